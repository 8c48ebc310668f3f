public import PGReflexWire
import PGReflexThreads
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The frames read from the server in one go, stored once: each XLogData's `data` is a
/// range of `storage`.
public struct ReplicationBatch: Sendable {
    public var storage: [UInt8]
    public var frames: [ReplicationFrame]

    public init(storage: [UInt8] = [], frames: [ReplicationFrame] = []) {
        self.storage = storage
        self.frames = frames
    }

    /// The memory the batch holds while queued: its capacities, not its counts.
    var retainedBytes: Int {
        storage.capacity + frames.capacity * MemoryLayout<ReplicationFrame>.stride
    }
}

/// The server's replication stream as an async sequence of batches, with backpressure:
/// while a batch waits that the consumer has not taken, the reader stops reading the socket
/// (the data waits in the socket, and the server's walsender waits once that is full), and it
/// reads again when the consumer takes it. So a busy consumer gets, each time, everything that
/// arrived while it worked, in one batch: a reader that ran ahead cut the stream into batches
/// of a few messages, and the consumer paid its per-batch costs (a wake-up, a fsync, a route
/// pass) for each. An idle consumer still gets each message as it arrives.
///
/// The consumer controls what is confirmed: ``confirm(flush:)`` is the only way a flush LSN
/// reaches the server, and it never moves backwards.
public struct ReplicationStream: AsyncSequence, Sendable {
    public typealias Element = ReplicationBatch

    let shared: StreamShared

    public func makeAsyncIterator() -> Iterator {
        Iterator(shared: shared)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let shared: StreamShared

        /// Throws ``PostgresError`` when the connection fails or the server ends the stream with an error.
        public mutating func next() async throws -> ReplicationBatch? {
            try await shared.next()
        }
    }

    /// Reports `flush` (and the same write and apply positions) to the server at the next
    /// status update: everything before it is durable downstream and the slot may drop it.
    public func confirm(flush: LSN) {
        shared.confirm(write: flush, flush: flush, apply: flush)
    }

    /// Nothing is queued: the consumer has taken everything read from the socket so far.
    public var isDrained: Bool {
        shared.state.withLock { $0.queue.isEmpty }
    }

    /// Sends a status update now instead of at the next interval.
    public func sendStatusNow() {
        shared.requestStatus()
    }

    /// Ends streaming: a final status update, then CopyDone. Frames already queued are still delivered.
    public func stop() {
        shared.requestStop()
    }
}

/// State shared by the connection thread (producer) and the consumer task. The queue and its
/// pause logic are ``StreamQueueStateMachine``; this class holds it under a lock and performs
/// what it returns (resuming the consumer, waking the reader).
final class StreamShared: Sendable {
    typealias Waiter = CheckedContinuation<ReplicationBatch?, any Error>

    struct State: ~Copyable {
        var queue: StreamQueueStateMachine<Waiter>
        var stopRequested = false
        var statusRequested = false
        var write = LSN.invalid
        var flush = LSN.invalid
        var apply = LSN.invalid
    }

    let state: Mutex<State>
    /// Wakes the connection thread from `poll`.
    let wakePipe = WakePipe(blocking: false)

    /// The default watermarks pause reading at any batch waiting and resume once it is taken:
    /// one batch in the consumer's hands and at most one waiting.
    init(highWatermark: Int = 1, lowWatermark: Int = 0) {
        state = Mutex(State(queue: StreamQueueStateMachine(highWatermark: highWatermark, lowWatermark: lowWatermark)))
    }

    func wake() {
        wakePipe.signal()
    }

    // MARK: consumer side

    func next() async throws -> ReplicationBatch? {
        switch state.withLock({ $0.queue.take() }) {
        case .deliver(let batch, let resumeReading):
            if resumeReading { wake() }
            return batch
        case .end: return nil
        case .fail(let error): throw error
        case .wait: break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                switch state.withLock({ $0.queue.suspend(continuation) }) {
                case .deliver(let batch, let resumeReading):
                    if resumeReading { wake() }
                    continuation.resume(returning: batch)
                case .end: continuation.resume(returning: nil)
                case .fail(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            self.requestStop()
        }
    }

    func confirm(write: LSN, flush: LSN, apply: LSN) {
        state.withLock { s in
            s.write = max(s.write, write)
            s.flush = max(s.flush, flush)
            s.apply = max(s.apply, apply)
        }
    }

    func requestStatus() {
        state.withLock { $0.statusRequested = true }
        wake()
    }

    func requestStop() {
        state.withLock { $0.stopRequested = true }
        wake()
    }

    // MARK: producer side (the connection thread)

    struct Control {
        var stop: Bool
        var paused: Bool
        var statusRequested: Bool
    }

    func control() -> Control {
        state.withLock { s in
            defer { s.statusRequested = false }
            return Control(stop: s.stopRequested, paused: s.queue.isPaused, statusRequested: s.statusRequested)
        }
    }

    func positionsForStatus() -> (write: LSN, flush: LSN, apply: LSN) {
        state.withLock { s in (s.write, s.flush, s.apply) }
    }

    func push(_ batch: ReplicationBatch) {
        // A pause needs no wake-up: the reader itself checks `control()` before it reads again.
        if case .resume(let waiter, let batch) = state.withLock({ $0.queue.push(batch) }) {
            waiter.resume(returning: batch)
        }
    }

    func finish(error: PostgresError?) {
        let (waiter, failure) = state.withLock { s in (s.queue.finish(error: error), s.queue.failure) }
        if let failure {
            waiter?.resume(throwing: failure)
        } else {
            waiter?.resume(returning: nil)
        }
    }
}
