/// Inngest's `debounce`: per key, run once the events stop coming for `period`, with the last
/// event (the final state); `timeout` caps how long the first event can be put off. Superseded
/// events are handled (their consumer may move past them); the owner records them as such.
public struct Debounce<Instant: InstantProtocol, Event: Sendable>: Sendable where Instant.Duration == Duration {
    public enum Action: Sendable {
        /// This earlier event will not run: a later one of its key replaced it.
        case superseded(Event)
    }

    struct Pending: Sendable {
        var event: Event
        var first: Instant
        var fireAt: Instant
        var superseded: Int
    }

    public let period: Duration
    public let timeout: Duration?
    private var pending: [String: Pending] = [:]

    public init(period: Duration, timeout: Duration? = nil) {
        self.period = period
        self.timeout = timeout
    }

    public mutating func received(_ event: Event, key: String, now: Instant) -> [Action] {
        guard var entry = pending[key] else {
            pending[key] = Pending(event: event, first: now, fireAt: deadline(first: now, now: now), superseded: 0)
            return []
        }
        let replaced = entry.event
        entry.event = event
        entry.superseded += 1
        entry.fireAt = deadline(first: entry.first, now: now)
        pending[key] = entry
        return [.superseded(replaced)]
    }

    private func deadline(first: Instant, now: Instant) -> Instant {
        let quiet = now.advanced(by: period)
        guard let timeout else { return quiet }
        return min(quiet, first.advanced(by: timeout))
    }

    /// The events whose key has been quiet long enough (or waited `timeout`), oldest first.
    public mutating func due(now: Instant) -> [(key: String, event: Event)] {
        let ready = pending.filter { $0.value.fireAt <= now }.sorted { $0.value.fireAt < $1.value.fireAt }
        for (key, _) in ready { pending.removeValue(forKey: key) }
        return ready.map { ($0.key, $0.value.event) }
    }

    /// When the owner must call `due` next.
    public var nextDeadline: Instant? { pending.values.map(\.fireAt).min() }

    public var waiting: Int { pending.count }
}
