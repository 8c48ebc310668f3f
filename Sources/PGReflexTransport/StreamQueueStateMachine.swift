/// The queue between the connection thread (which pushes batches) and the consumer (which
/// takes them), with byte watermarks: at `highWatermark` queued bytes reading pauses (so the
/// walsender waits), and at `lowWatermark` it resumes. A value type whose mutating methods
/// return what the owner must do; it performs no I/O and never blocks, so every interleaving
/// is a unit test.
///
/// Generic over the waiter so tests can use a plain value for the consumer's continuation.
struct StreamQueueStateMachine<Waiter> {
    private var queue: [ReplicationBatch] = []
    private var head = 0
    private(set) var queuedBytes = 0
    private var waiter: Waiter?
    /// Reading is paused until the consumer brings the queue down to the low watermark.
    private(set) var isPaused = false
    private var finished = false
    private var error: PostgresError?
    let highWatermark: Int
    let lowWatermark: Int

    init(highWatermark: Int, lowWatermark: Int) {
        precondition(lowWatermark < highWatermark)
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    enum TakeAction {
        /// Hand this batch to the consumer; with `resumeReading`, wake the reader too.
        case deliver(ReplicationBatch, resumeReading: Bool)
        /// Nothing queued: the consumer must wait (call ``suspend(_:)`` with its continuation).
        case wait
        /// The stream ended.
        case end
        case fail(PostgresError)
    }

    var isEmpty: Bool { head == queue.count }

    /// Batches the queue's array still holds, taken ones included until they are dropped.
    var heldBatches: Int { queue.count }

    /// The consumer asks for the next batch.
    mutating func take() -> TakeAction {
        if head < queue.count {
            // The taken slot lets go of its batch at once, and the taken prefix is dropped once
            // it is half the array: a queue that never quite empties (the reader a batch ahead
            // of its consumer) must not keep every batch it ever held.
            let batch = queue[head]
            queue[head] = ReplicationBatch()
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 32 && head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
            queuedBytes -= batch.retainedBytes
            // Every dequeue checks the low watermark: a dequeue that left the reader paused
            // while the consumer then waits on an empty queue would stall the stream for good.
            var resume = false
            if isPaused && queuedBytes <= lowWatermark {
                isPaused = false
                resume = true
            }
            return .deliver(batch, resumeReading: resume)
        }
        if let error { return .fail(error) }
        if finished { return .end }
        return .wait
    }

    /// The consumer found nothing and is about to wait: a batch pushed since ``take()`` is
    /// delivered at once (through the same dequeue), else the waiter is kept.
    mutating func suspend(_ waiter: Waiter) -> TakeAction {
        precondition(self.waiter == nil, "one consumer at a time")
        let action = take()
        if case .wait = action { self.waiter = waiter }
        return action
    }

    enum PushAction {
        /// The consumer was waiting: resume it with the batch (nothing is queued).
        case resume(Waiter, ReplicationBatch)
        /// Queued; with `pauseReading`, the reader stops reading the socket.
        case queued(pauseReading: Bool)
    }

    /// The reader has a batch.
    mutating func push(_ batch: ReplicationBatch) -> PushAction {
        if let waiter {
            self.waiter = nil
            return .resume(waiter, batch)
        }
        queue.append(batch)
        queuedBytes += batch.retainedBytes
        if !isPaused && queuedBytes >= highWatermark {
            isPaused = true
            return .queued(pauseReading: true)
        }
        return .queued(pauseReading: false)
    }

    /// The stream ended, with an error or cleanly. Returns a waiting consumer to resume
    /// (with the error, or with the end); queued batches are still delivered first.
    mutating func finish(error: PostgresError?) -> Waiter? {
        finished = true
        if self.error == nil { self.error = error }
        defer { waiter = nil }
        return waiter
    }

    /// The error the stream ended with, for a waiter that ``finish(error:)`` returned.
    var failure: PostgresError? { error }
}
