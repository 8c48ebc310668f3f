@testable import PGReflexTransport
import PGReflexTestSupport
import Synchronization
import Testing

/// The replication stream's queue and pause logic, every interleaving of reader and consumer,
/// without threads or sleeps.
@Suite struct StreamQueueStateMachineTests {
    typealias Machine = StreamQueueStateMachine<Int>

    func batch(_ bytes: Int, tag: UInt8 = 0) -> ReplicationBatch {
        ReplicationBatch(storage: [UInt8](repeating: tag, count: bytes))
    }

    func delivered(_ action: Machine.TakeAction) -> (bytes: Int, resume: Bool)? {
        if case .deliver(let batch, let resume) = action { return (batch.storage.count, resume) }
        return nil
    }

    /// The stall this machine replaced: the consumer found the queue empty, a batch at or above
    /// the high watermark arrived before it registered its continuation, and the second dequeue
    /// path took the batch without clearing `paused`. The reader stayed paused, the consumer
    /// waited on an empty queue, and the stream stopped for good. One row over 16 MiB did it.
    @Test func aBigBatchBetweenTakeAndSuspendDoesNotLeaveTheReaderPaused() {
        var machine = Machine(highWatermark: 100, lowWatermark: 10)
        guard case .wait = machine.take() else { Issue.record("expected wait"); return }
        guard case .queued(pauseReading: true) = machine.push(batch(150)) else { Issue.record("expected a pause"); return }
        #expect(machine.isPaused)
        let action = machine.suspend(1)
        #expect(delivered(action)?.bytes == 150)
        #expect(delivered(action)?.resume == true, "the reader must be woken")
        #expect(!machine.isPaused)
    }

    /// The leak a CI run found (298 MiB where 70 sufficed): with the reader one batch ahead of
    /// its consumer the queue never emptied, and the array kept every batch already taken.
    @Test func aQueueThatNeverEmptiesLetsGoOfTakenBatches() {
        var machine = Machine(highWatermark: 1 << 30, lowWatermark: 1 << 20)
        _ = machine.push(batch(10))
        for _ in 0..<10_000 {
            _ = machine.push(batch(10))
            #expect(delivered(machine.take())?.bytes == 10)
        }
        #expect(machine.heldBatches <= 64, "\(machine.heldBatches) batches held for one queued")
        #expect(machine.queuedBytes == batch(10).retainedBytes)
    }

    /// The stream's own watermarks: one batch in the consumer's hands, at most one waiting. The
    /// reader stops at the first batch that waits, however small, and reads again the moment
    /// it is taken, so what arrives meanwhile makes one batch.
    @Test func theStreamsWatermarksKeepOneBatchWaitingAtMost() {
        let (high, low) = StreamShared().state.withLock { ($0.queue.highWatermark, $0.queue.lowWatermark) }
        var machine = Machine(highWatermark: high, lowWatermark: low)
        guard case .wait = machine.take(), case .wait = machine.suspend(1) else { Issue.record("expected waits"); return }
        guard case .resume = machine.push(batch(1)) else { Issue.record("a waiting consumer gets the batch"); return }
        guard case .queued(pauseReading: true) = machine.push(batch(1)) else { Issue.record("expected a pause at one waiting batch"); return }
        #expect(delivered(machine.take())?.resume == true, "taking the waiting batch wakes the reader")
        guard case .queued(pauseReading: true) = machine.push(batch(1, tag: 2)) else { Issue.record("expected a pause again"); return }
    }

    /// Memory is what a batch holds, not what it uses: a mostly empty reserve still counts.
    @Test func theWatermarkCountsCapacity() {
        var machine = Machine(highWatermark: 100_000, lowWatermark: 10_000)
        var reserved = batch(10)
        reserved.storage.reserveCapacity(200_000)
        guard case .queued(pauseReading: true) = machine.push(reserved) else { Issue.record("expected a pause"); return }
    }

    @Test func aWaitingConsumerGetsTheNextBatchDirectly() {
        var machine = Machine(highWatermark: 100, lowWatermark: 10)
        guard case .wait = machine.take(), case .wait = machine.suspend(7) else { Issue.record("expected waits"); return }
        guard case .resume(let waiter, let handed) = machine.push(batch(500)) else { Issue.record("expected a resume"); return }
        #expect(waiter == 7 && handed.storage.count == 500)
        #expect(machine.queuedBytes == 0 && !machine.isPaused, "a batch handed over is never queued, whatever its size")
    }

    @Test func pausesAtTheHighWatermarkAndResumesAtTheLowOnce() {
        // Watermarks from each batch's own figure (its capacity): the allocator may round two
        // equal requests differently (a CI run saw it). The fourth push reaches the high one;
        // only the last batch left is at or under the low one.
        let batches = (0..<5).map { _ in batch(25) }
        let held = batches.map(\.retainedBytes)
        var machine = Machine(highWatermark: held[0..<4].reduce(0, +), lowWatermark: held[4])
        var pauses = 0
        for batch in batches {
            if case .queued(pauseReading: true) = machine.push(batch) { pauses += 1 }
        }
        #expect(pauses == 1 && machine.isPaused && machine.queuedBytes == batches.map(\.retainedBytes).reduce(0, +))
        #expect(delivered(machine.take())?.resume == false)  // four left
        #expect(delivered(machine.take())?.resume == false)  // three
        #expect(delivered(machine.take())?.resume == false)  // two
        #expect(delivered(machine.take())?.resume == true)   // one: at or under the low watermark
        #expect(delivered(machine.take())?.resume == false)
        guard case .wait = machine.take() else { Issue.record("expected wait"); return }
    }

    @Test func queuedBatchesComeBeforeTheEndOrTheError() {
        var machine = Machine(highWatermark: 100, lowWatermark: 10)
        _ = machine.push(batch(1))
        #expect(machine.finish(error: PostgresError(code: .connectionLost, message: "gone")) == nil)
        #expect(delivered(machine.take())?.bytes == 1)
        guard case .fail(let error) = machine.take() else { Issue.record("expected the error"); return }
        #expect(error.code == .connectionLost)

        var clean = Machine(highWatermark: 100, lowWatermark: 10)
        guard case .wait = clean.take(), case .wait = clean.suspend(3) else { Issue.record("expected waits"); return }
        #expect(clean.finish(error: nil) == 3)
        #expect(clean.failure == nil)
        guard case .end = clean.take() else { Issue.record("expected the end"); return }
    }

    /// Random interleavings: batches arrive in order, exactly once, and the reader is never
    /// paused while the consumer waits (the stall), whatever the order of events.
    @Test(arguments: [1, 2, 3, 42, 1234] as [UInt64])
    func randomInterleavingsNeverStallAndKeepOrder(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var machine = Machine(highWatermark: 64, lowWatermark: 16)
        var pushed: [UInt8] = []
        var received: [UInt8] = []
        var waiting = false
        var next: UInt8 = 0
        for _ in 0..<20_000 {
            switch random.next() % 3 {
            case 0 where !machine.isPaused, 1 where !machine.isPaused:
                next &+= 1
                pushed.append(next)
                switch machine.push(batch(Int(random.next() % 80) + 1, tag: next)) {
                case .resume(_, let batch):
                    #expect(waiting)
                    waiting = false
                    received.append(batch.storage[0])
                case .queued:
                    break
                }
            default:
                guard !waiting else { continue }
                var action = machine.take()
                if case .wait = action { action = machine.suspend(0) }
                switch action {
                case .deliver(let batch, _): received.append(batch.storage[0])
                case .wait: waiting = true
                case .end, .fail: Issue.record("the stream never ended")
                }
            }
            #expect(!(waiting && machine.isPaused), "stalled: the consumer waits while the reader is paused")
        }
        while !waiting, case .deliver(let batch, _) = machine.take() { received.append(batch.storage[0]) }
        #expect(received == pushed)
    }
}
