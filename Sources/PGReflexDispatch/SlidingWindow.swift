/// A composite trigger (`window: {count, period, key}`): per key, fire once when `count`
/// events fall within a sliding `period`, with those events; the window then starts afresh.
/// The seeds' example: three orders over 500 by one customer within ten minutes are one breach.
///
/// Time is the events' own (their commit time), not the clock's: a replay or a restart decides
/// the same way.
public struct SlidingWindow<Instant: InstantProtocol, Event: Sendable>: Sendable where Instant.Duration == Duration {
    public let count: Int
    public let period: Duration
    private var recent: [String: [(at: Instant, event: Event)]] = [:]

    public init(count: Int, period: Duration) {
        precondition(count >= 1, "validated at load")
        self.count = count
        self.period = period
    }

    /// Adds an event at its time; returns the events of the window when this one completes it.
    public mutating func add(_ event: Event, key: String, at time: Instant) -> [Event]? {
        var entries = recent[key, default: []].filter { time.advanced(by: .zero - period) < $0.at }
        entries.append((time, event))
        if entries.count >= count {
            recent.removeValue(forKey: key)
            return entries.map(\.event)
        }
        recent[key] = entries
        return nil
    }

    /// Drops windows that can no longer complete (their newest event is older than `period`).
    public mutating func prune(before time: Instant) {
        recent = recent.filter { $0.value.last.map { time.advanced(by: .zero - period) < $0.at } ?? false }
    }

    /// The events of open windows, oldest first: what a restart must see again.
    public var openEvents: [Event] { recent.values.flatMap { $0 }.sorted { $0.at < $1.at }.map(\.event) }
}
