import PGReflexFiles
public import PGReflexThreads
import Synchronization

/// Where capture and delivery meet, besides the journal's files: the writer says how far the
/// journal is durable (``DurableMark``) and when it has finished; each consumer says how far it
/// has read and what retention must keep for it. Both sides sleep on a ``WakeSignal`` instead of
/// polling the disk.
public final class JournalChannel: Sendable {
    /// What the writer has made durable. Readers never read past it.
    public struct DurableMark: Sendable, Equatable {
        /// The last durable record; nil while the journal is empty.
        public var position: EventPosition?
        /// The segment being written, and how many of its bytes are durable.
        public var segment: String?
        public var offset: Int
        /// The commit time of the last durable record written in this process (Unix
        /// microseconds; 0 when unknown): how far behind the database capture is.
        public var commitTime: Int64

        public init(position: EventPosition? = nil, segment: String? = nil, offset: Int = 0, commitTime: Int64 = 0) {
            self.position = position
            self.segment = segment
            self.offset = offset
            self.commitTime = commitTime
        }
    }

    /// One consumer's standing, as retention and the full-journal pause see it.
    public struct ConsumerProgress: Sendable, Equatable {
        /// Everything up to here is handled, and nothing the consumer still needs (held events)
        /// lies before it. nil: nothing handled yet, so everything is needed.
        public var floor: EventPosition?
        /// `on_journal_full: pause` (the default): a full journal waits for this consumer.
        /// Otherwise (`drop_oldest`) the size bound may remove records it has not read.
        public var pausesCapture: Bool

        public init(floor: EventPosition?, pausesCapture: Bool) {
            self.floor = floor
            self.pausesCapture = pausesCapture
        }
    }

    private struct State: ~Copyable {
        var mark: DurableMark
        /// When the mark last moved.
        var published: ContinuousClock.Instant?
        var finished = false
        var consumers: [String: ConsumerProgress] = [:]
    }

    private let state: Mutex<State>
    /// Wakes consumers: the durable mark moved, or capture finished.
    public let appended = WakeSignal()
    /// Wakes capture: a consumer moved (a full journal may have room again), or a stop.
    public let progressed = WakeSignal()

    public init(mark: DurableMark) {
        state = Mutex(State(mark: mark))
    }

    public var mark: DurableMark { state.withLock { $0.mark } }

    /// Capture has stopped: consumers deliver what is durable, then end.
    public var isFinished: Bool { state.withLock { $0.finished } }

    public func publish(_ mark: DurableMark) {
        let moved = state.withLock { state -> Bool in
            guard state.mark != mark else { return false }
            state.mark = mark
            state.published = .now
            return true
        }
        if moved { appended.notify() }
    }

    /// Capture is working through a backlog: it made events durable within the last second, and
    /// the newest of them committed more than `lag` ago. An idle database is not a backlog.
    public func isBehind(by lag: Duration, nowMicros: Int64) -> Bool {
        state.withLock { state in
            guard let published = state.published, published.duration(to: .now) < .seconds(1), state.mark.commitTime > 0 else { return false }
            let (seconds, attoseconds) = lag.components
            return nowMicros - state.mark.commitTime > seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        }
    }

    public func finish() {
        state.withLock { $0.finished = true }
        appended.notify()
    }

    public func update(_ consumer: String, _ progress: ConsumerProgress) {
        let changed = state.withLock { state -> Bool in
            guard state.consumers[consumer] != progress else { return false }
            state.consumers[consumer] = progress
            return true
        }
        if changed { progressed.notify() }
    }

    public var consumers: [String: ConsumerProgress] { state.withLock { $0.consumers } }

    /// What retention may remove, given every consumer's progress.
    public func retentionFloor() -> Journal.RetentionFloor {
        state.withLock { state in
            // No consumer yet: nothing is known to be handled, so nothing goes.
            var floor = Journal.RetentionFloor(keep: state.consumers.isEmpty ? nil : state.mark.position)
            for (name, progress) in state.consumers {
                if progress.pausesCapture {
                    floor.keep = Self.min(floor.keep, progress.floor)
                } else {
                    floor.dropping[name] = progress.floor
                }
            }
            return floor
        }
    }

    /// The slowest consumer a full journal waits for, when one has not read everything durable.
    public func lagging() -> (name: String, floor: EventPosition?)? {
        state.withLock { state in
            guard let end = state.mark.position else { return nil }
            let waiting = state.consumers.filter { $0.value.pausesCapture && ($0.value.floor.map { $0 < end } ?? true) }
            return waiting.min { a, b in
                switch (a.value.floor, b.value.floor) {
                case (nil, nil): a.key < b.key
                case (nil, _): true
                case (_, nil): false
                case (let x?, let y?): x < y || (x == y && a.key < b.key)
                }
            }.map { ($0.key, $0.value.floor) }
        }
    }

    /// nil is "before everything".
    private static func min(_ a: EventPosition?, _ b: EventPosition?) -> EventPosition? {
        guard let a, let b else { return nil }
        return Swift.min(a, b)
    }
}
