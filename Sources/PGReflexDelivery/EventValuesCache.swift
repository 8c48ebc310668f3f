import PGReflexJournal
import PGReflexRouter
import Synchronization

/// The envelope values of recent events, parsed once for every route of a pipeline that reads
/// them (a condition, changed columns, a key expression): the routes follow the same journal at
/// about the same place, so the first to read an event parses it and the others find it here.
/// Bounded: the `capacity` most recently parsed events; a route further behind parses again.
///
/// Values depend on the envelope alone, so a route decides the same with or without the cache.
public final class EventValuesCache: Sendable {
    private struct Entries {
        var values: [EventPosition: CELActivation] = [:]
        /// Insertion order, as a ring: the oldest entry goes when the cache is full.
        var order: [EventPosition?]
        var next = 0
        /// Parses made (tests).
        var parses = 0
    }

    private let entries: Mutex<Entries>

    public init(capacity: Int = 4096) {
        entries = Mutex(Entries(order: Array(repeating: nil, count: max(1, capacity))))
    }

    /// The event's values: parsed now (outside the lock) unless another route has.
    func values(at position: EventPosition, envelope: [UInt8]) -> CELActivation {
        if let found = entries.withLock({ $0.values[position] }) { return found }
        let parsed = RouteValues.values(of: envelope)
        entries.withLock { entries in
            entries.parses += 1
            guard entries.values.updateValue(parsed, forKey: position) == nil else { return }
            if let oldest = entries.order[entries.next] { entries.values[oldest] = nil }
            entries.order[entries.next] = position
            entries.next = (entries.next + 1) % entries.order.count
        }
        return parsed
    }

    /// How many events it holds, and how many parses it made (tests).
    var count: Int { entries.withLock { $0.values.count } }
    var parses: Int { entries.withLock { $0.parses } }
}
