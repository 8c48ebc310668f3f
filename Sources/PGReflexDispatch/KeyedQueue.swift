/// Per-key order with parallelism across keys (Sequin's message groups): events wait in commit
/// order; an event starts only when no earlier event of its key is running or waiting, and at
/// most `limit` run at once (`concurrency.limit`), at most `groupLimit` per group (Inngest's
/// `concurrency.key`). A failing event holds only its own key until it is retried or
/// dead-lettered.
///
/// Among the events free to start, a higher `priority` goes first (Inngest's `priority.run`);
/// ties go in commit order. Priority never reorders one key's events.
public struct KeyedQueue<Event: Sendable>: Sendable {
    struct Entry: Sendable {
        var key: String
        var group: String?
        var priority: Int
        var event: Event
    }

    public let limit: Int
    public let groupLimit: Int?
    private var waiting: [Entry] = []
    private var running: Set<String> = []
    private var groups: [String: Int] = [:]
    private var prioritized = false
    public private(set) var inFlight = 0

    public init(limit: Int, groupLimit: Int? = nil) {
        precondition(limit >= 1 && (groupLimit ?? 1) >= 1, "validated at load")
        self.limit = limit
        self.groupLimit = groupLimit
    }

    public mutating func enqueue(_ event: Event, key: String, group: String? = nil, priority: Int = 0) {
        if priority != 0 { prioritized = true }
        waiting.append(Entry(key: key, group: group, priority: priority, event: event))
    }

    /// Puts a started event back at the head of its key, to run again later (a retry): its key
    /// stays blocked, but it no longer takes a slot.
    public mutating func retry(_ event: Event, key: String, group: String? = nil, priority: Int = 0) {
        finished(key: key, group: group)
        waiting.insert(Entry(key: key, group: group, priority: priority, event: event), at: 0)
    }

    /// The events that may start now; each is counted as running until `finished`. `admit`
    /// may hold back an event that is otherwise free to start (a throttle, a retry's backoff,
    /// an open circuit): it stays at the head of its key.
    public mutating func start(admit: (Event) -> Bool = { _ in true }) -> [(key: String, event: Event)] {
        guard inFlight < limit, !waiting.isEmpty else { return [] }
        // The first waiting event of each key not running is free to start; later ones wait
        // behind it, started or not.
        var blocked = running
        var heads: [Int] = []
        for (index, entry) in waiting.enumerated() where blocked.insert(entry.key).inserted {
            heads.append(index)
        }
        if prioritized {
            heads.sort { waiting[$0].priority != waiting[$1].priority ? waiting[$0].priority > waiting[$1].priority : $0 < $1 }
        }
        var started: [(key: String, event: Event)] = []
        var taken: [Int] = []
        for index in heads {
            guard inFlight < limit else { break }
            let entry = waiting[index]
            if let group = entry.group, let groupLimit, groups[group, default: 0] >= groupLimit { continue }
            guard admit(entry.event) else { continue }
            running.insert(entry.key)
            if let group = entry.group { groups[group, default: 0] += 1 }
            inFlight += 1
            started.append((entry.key, entry.event))
            taken.append(index)
        }
        if !taken.isEmpty {
            let removed = Set(taken)
            waiting = waiting.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        }
        return started
    }

    /// An event of `key` is done (delivered, skipped or dead-lettered): its key may go on.
    public mutating func finished(key: String, group: String? = nil) {
        guard running.remove(key) != nil else { return }
        inFlight -= 1
        if let group, let count = groups[group] {
            if count <= 1 { groups.removeValue(forKey: group) } else { groups[group] = count - 1 }
        }
    }

    public var queued: Int { waiting.count }

    /// Every waiting event, in order (for a graceful stop's accounting).
    public var waitingEvents: [Event] { waiting.map(\.event) }
}
