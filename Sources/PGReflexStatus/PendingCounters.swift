public import CoreMetrics

/// Counts kept locally per key and handed to swift-metrics in one go: a hot path pays a
/// comparison with the last key (events come in runs of one table and outcome), or a
/// dictionary increment, not a metrics call. The counter for a key is made on its first flush.
/// Inlinable, so that each caller's module specializes it for its key.
public struct PendingCounters<Key: Hashable> {
    public let label: String
    @usableFromInline let factory: any MetricsFactory
    @usableFromInline var pending: [Key: Int] = [:]
    @usableFromInline var last: (key: Key, amount: Int)?
    @usableFromInline var counters: [Key: Counter] = [:]

    /// `factory`: the bootstrapped metrics system unless a test gives its own.
    public init(label: String, factory: any MetricsFactory = MetricsSystem.factory) {
        self.label = label
        self.factory = factory
    }

    @inlinable public mutating func add(_ key: Key, _ amount: Int = 1) {
        if let last, last.key == key {
            self.last!.amount += amount
            return
        }
        if let last { pending[last.key, default: 0] += last.amount }
        last = (key, amount)
    }

    /// `dimensions` names a key's labels (never values from rows).
    @inlinable public mutating func flush(dimensions: (Key) -> [(String, String)]) {
        if let last {
            pending[last.key, default: 0] += last.amount
            self.last = nil
        }
        for (key, amount) in pending {
            let counter: Counter
            if let existing = counters[key] {
                counter = existing
            } else {
                counter = Counter(label: label, dimensions: dimensions(key), factory: factory)
                counters[key] = counter
            }
            counter.increment(by: amount)
        }
        pending.removeAll(keepingCapacity: true)
    }
}
