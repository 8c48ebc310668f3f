/// A composite trigger (`window: {count, period, key}`): per key, fire once when `count`
/// events fall within a sliding `period`, with those events; the window then starts afresh.
/// The seeds' example: three orders over 500 by one customer within ten minutes are one breach.
///
/// Time is the events' own (their commit time), not the clock's: a replay or a restart decides
/// the same way. Events that fall out of a window without completing it are returned, so the
/// owner can count them as handled.
public struct SlidingWindow<Instant: InstantProtocol, Event: Sendable>: Sendable where Instant.Duration == Duration {
    public let count: Int
    public let period: Duration
    private var recent: [String: [(at: Instant, event: Event)]] = [:]

    public init(count: Int, period: Duration) {
        precondition(count >= 1, "validated at load")
        self.count = count
        self.period = period
    }

    /// Adds an event at its time: `fired` holds the window's events when this one completes it;
    /// `expired`, the earlier events of the key that fell out of the period.
    public mutating func add(_ event: Event, key: String, at time: Instant) -> (fired: [Event]?, expired: [Event]) {
        let entries = recent[key, default: []]
        let cut = time.advanced(by: .zero - period)
        var kept = entries.filter { cut < $0.at }
        let expired = entries.filter { !(cut < $0.at) }.map(\.event)
        kept.append((time, event))
        if kept.count >= count {
            recent.removeValue(forKey: key)
            return (kept.map(\.event), expired)
        }
        recent[key] = kept
        return (nil, expired)
    }

    /// Removes and returns the events of windows that can no longer complete by `time` (their
    /// newest event is older than `period`), oldest first.
    public mutating func prune(before time: Instant) -> [Event] {
        let cut = time.advanced(by: .zero - period)
        var expired: [(at: Instant, event: Event)] = []
        recent = recent.filter { _, entries in
            guard let last = entries.last, !(cut < last.at) else { return true }
            expired += entries
            return false
        }
        return expired.sorted { $0.at < $1.at }.map(\.event)
    }

    /// Whether the key's open window holds an event that `matches`: an event read again after a
    /// restart (the cursor held back by a call in flight) is already there, and counts once.
    public func contains(key: String, where matches: (Event) -> Bool) -> Bool {
        recent[key]?.contains { matches($0.event) } ?? false
    }

    /// The events of open windows, oldest first: what a restart must see again.
    public var openEvents: [Event] { recent.values.flatMap { $0 }.sorted { $0.at < $1.at }.map(\.event) }

    /// The events waiting in open windows.
    public var waiting: Int { recent.values.reduce(0) { $0 + $1.count } }
}
