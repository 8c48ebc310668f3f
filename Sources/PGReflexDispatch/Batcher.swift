/// Inngest's `batch`: per key, events gather until `maxSize` of them, or `timeout` after the
/// first, whichever comes first; the agent gets them together (`events[]`).
public struct Batcher<Instant: InstantProtocol, Event: Sendable>: Sendable where Instant.Duration == Duration {
    public let maxSize: Int
    public let timeout: Duration
    private var open: [String: (events: [Event], since: Instant)] = [:]

    public init(maxSize: Int, timeout: Duration) {
        precondition(maxSize >= 1, "validated at load")
        self.maxSize = maxSize
        self.timeout = timeout
    }

    /// Adds an event; returns the batch when this one fills it.
    public mutating func add(_ event: Event, key: String = "", now: Instant) -> [Event]? {
        var batch = open[key] ?? ([], now)
        batch.events.append(event)
        if batch.events.count >= maxSize {
            open.removeValue(forKey: key)
            return batch.events
        }
        open[key] = batch
        return nil
    }

    /// The batches whose timeout has passed, oldest first.
    public mutating func due(now: Instant) -> [(key: String, events: [Event])] {
        let ready = open.filter { $0.value.since.advanced(by: timeout) <= now }.sorted { $0.value.since < $1.value.since }
        for (key, _) in ready { open.removeValue(forKey: key) }
        return ready.map { ($0.key, $0.value.events) }
    }

    /// Every open batch, for a final flush.
    public mutating func drain() -> [(key: String, events: [Event])] {
        defer { open.removeAll() }
        return open.sorted { $0.value.since < $1.value.since }.map { ($0.key, $0.value.events) }
    }

    public var nextDeadline: Instant? { open.values.map { $0.since.advanced(by: timeout) }.min() }
}
