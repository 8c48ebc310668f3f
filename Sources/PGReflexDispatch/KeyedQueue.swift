/// Per-key order with parallelism across keys (Sequin's message groups): events wait in commit
/// order; an event starts only when no earlier event of its key is running or waiting, and at
/// most `limit` run at once (`concurrency.limit`). A failing event holds only its own key until
/// it is retried or dead-lettered.
public struct KeyedQueue<Event: Sendable>: Sendable {
    public let limit: Int
    private var waiting: [(key: String, event: Event)] = []
    private var running: [String: Int] = [:]
    public private(set) var inFlight = 0

    public init(limit: Int) {
        precondition(limit >= 1, "validated at load")
        self.limit = limit
    }

    public mutating func enqueue(_ event: Event, key: String) {
        waiting.append((key, event))
    }

    /// The events that may start now, in commit order; each is counted as running until
    /// `finished(key:)`.
    public mutating func start() -> [(key: String, event: Event)] {
        var started: [(key: String, event: Event)] = []
        var blocked = Set<String>(running.keys)
        var kept: [(key: String, event: Event)] = []
        for entry in waiting {
            if inFlight < limit && !blocked.contains(entry.key) {
                running[entry.key, default: 0] += 1
                inFlight += 1
                started.append(entry)
            } else {
                kept.append(entry)
            }
            // Later events of the key wait behind this one, started or not.
            blocked.insert(entry.key)
        }
        waiting = kept
        return started
    }

    /// An event of `key` is done (delivered, skipped or dead-lettered): its key may go on.
    public mutating func finished(key: String) {
        guard let count = running[key] else { return }
        inFlight -= 1
        if count <= 1 { running.removeValue(forKey: key) } else { running[key] = count - 1 }
    }

    public var queued: Int { waiting.count }
}
