public import PGReflexWire
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
}

/// The server's replication stream as an async sequence of batches, with backpressure:
/// when the consumer falls behind by `highWatermark` bytes the reader stops reading the
/// socket (so the server's walsender waits) until the consumer is down to `lowWatermark`.
/// Bytes, not batches: a reader that outpaces the server makes many small batches, and a
/// count of batches would then buffer almost nothing.
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

        /// Throws ``ReplicationError`` when the connection fails or the server ends the stream with an error.
        public mutating func next() async throws -> ReplicationBatch? {
            try await shared.next()
        }
    }

    /// Reports `flush` (and the same write and apply positions) to the server at the next
    /// status update: everything before it is durable downstream and the slot may drop it.
    public func confirm(flush: LSN) {
        shared.confirm(write: flush, flush: flush, apply: flush)
    }

    /// Sets write, flush and apply separately. Each only moves forward.
    public func confirm(write: LSN, flush: LSN, apply: LSN) {
        shared.confirm(write: write, flush: flush, apply: apply)
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

/// State shared by the connection thread (producer) and the consumer task.
final class StreamShared: Sendable {
    struct State: ~Copyable {
        var queue: [ReplicationBatch] = []
        var queuedBytes = 0
        var waiter: CheckedContinuation<ReplicationBatch?, any Error>?
        var paused = false
        var finished = false
        var error: ReplicationError?
        var stopRequested = false
        var statusRequested = false
        var write = LSN.invalid
        var flush = LSN.invalid
        var apply = LSN.invalid
    }

    let state = Mutex(State())
    /// Wakes the connection thread from `poll`.
    let wakePipe = WakePipe(blocking: false)
    let highWatermark: Int
    let lowWatermark: Int

    init(highWatermark: Int = 16 << 20, lowWatermark: Int = 4 << 20) {
        precondition(lowWatermark < highWatermark)
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
    }

    func wake() {
        wakePipe.signal()
    }

    // MARK: consumer side

    func next() async throws -> ReplicationBatch? {
        enum Step { case batch(ReplicationBatch, wake: Bool), end, failure(ReplicationError), wait }
        let step = state.withLock { s -> Step in
            if !s.queue.isEmpty {
                let batch = s.queue.removeFirst()
                s.queuedBytes -= batch.storage.count
                var wake = false
                if s.paused && s.queuedBytes <= lowWatermark {
                    s.paused = false
                    wake = true
                }
                return .batch(batch, wake: wake)
            }
            if let error = s.error { return .failure(error) }
            if s.finished { return .end }
            return .wait
        }
        switch step {
        case .batch(let batch, let wake):
            if wake { self.wake() }
            return batch
        case .end: return nil
        case .failure(let error): throw error
        case .wait: break
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let immediate = state.withLock { s -> Result<ReplicationBatch?, ReplicationError>? in
                    if !s.queue.isEmpty {
                        let batch = s.queue.removeFirst()
                        s.queuedBytes -= batch.storage.count
                        return .success(batch)
                    }
                    if let error = s.error { return .failure(error) }
                    if s.finished { return .success(nil) }
                    s.waiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
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
            return Control(stop: s.stopRequested, paused: s.paused, statusRequested: s.statusRequested)
        }
    }

    func positionsForStatus() -> (write: LSN, flush: LSN, apply: LSN) {
        state.withLock { s in (s.write, s.flush, s.apply) }
    }

    func push(_ batch: ReplicationBatch) {
        let waiter = state.withLock { s -> CheckedContinuation<ReplicationBatch?, any Error>? in
            if let waiter = s.waiter {
                s.waiter = nil
                return waiter
            }
            s.queue.append(batch)
            s.queuedBytes += batch.storage.count
            if s.queuedBytes >= highWatermark { s.paused = true }
            return nil
        }
        waiter?.resume(returning: batch)
    }

    func finish(error: ReplicationError?) {
        let waiter = state.withLock { s -> CheckedContinuation<ReplicationBatch?, any Error>? in
            s.finished = true
            if s.error == nil { s.error = error }
            let waiter = s.waiter
            s.waiter = nil
            return waiter
        }
        if let error {
            waiter?.resume(throwing: error)
        } else {
            waiter?.resume(returning: nil)
        }
    }
}
