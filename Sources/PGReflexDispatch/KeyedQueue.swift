/// Per-key order with parallelism across keys (Sequin's message groups): events wait in commit
/// order; an event starts only when no earlier event of its key is running or waiting, and at
/// most `limit` run at once (`concurrency.limit`), at most `groupLimit` per group (Inngest's
/// `concurrency.key`). A failing event holds only its own key until it is retried or
/// dead-lettered.
///
/// Among the events free to start, a higher `priority` goes first (Inngest's `priority.run`);
/// ties go in commit order. Priority never reorders one key's events.
public struct KeyedQueue<Event: Sendable>: Sendable {
    @usableFromInline struct Entry: Sendable {
        @usableFromInline var key: String
        @usableFromInline var group: String?
        @usableFromInline var priority: Int
        @usableFromInline var event: Event

        @inlinable init(key: String, group: String?, priority: Int, event: Event) {
            self.key = key
            self.group = group
            self.priority = priority
            self.event = event
        }
    }

    public let limit: Int
    public let groupLimit: Int?
    /// In arrival order; started entries leave a hole until `head` passes them, so a start
    /// touches only the entries it scans, not the whole queue.
    @usableFromInline var waiting: [Entry?] = []
    @usableFromInline var head = 0
    @usableFromInline var queuedCount = 0
    @inlinable public var queued: Int { queuedCount }
    @usableFromInline var running: Set<String> = []
    @usableFromInline var groups: [String: Int] = [:]
    @usableFromInline var prioritized = false
    @usableFromInline var startedCount = 0
    @inlinable public var inFlight: Int { startedCount }

    public init(limit: Int, groupLimit: Int? = nil) {
        precondition(limit >= 1 && (groupLimit ?? 1) >= 1, "validated at load")
        self.limit = limit
        self.groupLimit = groupLimit
    }

    @inlinable public mutating func enqueue(_ event: Event, key: String, group: String? = nil, priority: Int = 0) {
        if priority != 0 { prioritized = true }
        waiting.append(Entry(key: key, group: group, priority: priority, event: event))
        queuedCount += 1
    }

    /// Puts a started event back at the head of its key, to run again later (a retry): its key
    /// stays blocked, but it no longer takes a slot.
    @inlinable public mutating func retry(_ event: Event, key: String, group: String? = nil, priority: Int = 0) {
        finished(key: key, group: group)
        let entry = Entry(key: key, group: group, priority: priority, event: event)
        if head > 0 {
            head -= 1
            waiting[head] = entry
        } else {
            waiting.insert(entry, at: 0)
        }
        queuedCount += 1
    }

    /// The events that may start now; each is counted as running until `finished`. `admit`
    /// may hold back an event that is otherwise free to start (a throttle, a retry's backoff,
    /// an open circuit): it stays at the head of its key. `limit`: this pass's bound on what
    /// runs at once, when not the queue's own (calls that finish before the next pass).
    @inlinable public mutating func start(limit: Int? = nil, admit: (Event) -> Bool = { _ in true }) -> [(key: String, event: Event)] {
        let limit = limit ?? self.limit
        guard inFlight < limit, queued > 0 else { return [] }
        // The first waiting event of each key not running is free to start; later ones wait
        // behind it, started or not.
        var blocked = running
        var candidates: [Int] = []
        var started: [(key: String, event: Event)] = []
        var index = head
        // Without priorities, commit order decides: scan only until the slots are taken.
        while index < waiting.count && inFlight < limit {
            if let entry = waiting[index], blocked.insert(entry.key).inserted {
                if prioritized {
                    candidates.append(index)
                } else {
                    tryStart(at: index, admit: admit, into: &started)
                }
            }
            index += 1
        }
        if prioritized {
            candidates.sort { waiting[$0]!.priority != waiting[$1]!.priority ? waiting[$0]!.priority > waiting[$1]!.priority : $0 < $1 }
            for index in candidates where inFlight < limit { tryStart(at: index, admit: admit, into: &started) }
        }
        while head < waiting.count && waiting[head] == nil { head += 1 }
        if head > 1024 && head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
        return started
    }

    /// Starts the entry at `index` if its group has room and `admit` lets it.
    @inlinable mutating func tryStart(at index: Int, admit: (Event) -> Bool, into started: inout [(key: String, event: Event)]) {
        guard let entry = waiting[index] else { return }
        if let group = entry.group, let groupLimit, groups[group, default: 0] >= groupLimit { return }
        guard admit(entry.event) else { return }
        running.insert(entry.key)
        if let group = entry.group { groups[group, default: 0] += 1 }
        startedCount += 1
        started.append((entry.key, entry.event))
        waiting[index] = nil
        queuedCount -= 1
    }

    /// An event of `key` is done (delivered, skipped or dead-lettered): its key may go on.
    @inlinable public mutating func finished(key: String, group: String? = nil) {
        guard running.remove(key) != nil else { return }
        startedCount -= 1
        if let group, let count = groups[group] {
            if count <= 1 { groups.removeValue(forKey: group) } else { groups[group] = count - 1 }
        }
    }

}
