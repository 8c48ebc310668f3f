import CoreMetrics

/// Counts kept locally per key and handed to swift-metrics in one go: a hot path pays a
/// dictionary increment, not a metrics call. The counter for a key is made on its first flush.
public struct PendingCounters<Key: Hashable> {
    public let label: String
    private var pending: [Key: Int] = [:]
    private var counters: [Key: Counter] = [:]

    public init(label: String) {
        self.label = label
    }

    public mutating func add(_ key: Key, _ amount: Int = 1) {
        pending[key, default: 0] += amount
    }

    /// `dimensions` names a key's labels (never values from rows).
    public mutating func flush(dimensions: (Key) -> [(String, String)]) {
        for (key, amount) in pending {
            let counter: Counter
            if let existing = counters[key] {
                counter = existing
            } else {
                counter = Counter(label: label, dimensions: dimensions(key))
                counters[key] = counter
            }
            counter.increment(by: amount)
        }
        pending.removeAll(keepingCapacity: true)
    }
}
