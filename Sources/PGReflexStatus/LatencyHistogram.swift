/// Latencies in logarithmic buckets (about 4% wide), for percentiles that cost a constant
/// amount of memory however many samples there are. Values are microseconds.
public struct LatencyHistogram: Sendable, Codable, Equatable {
    /// Bucket `i` holds values up to `bound(i)`; the last bucket holds everything larger.
    public private(set) var counts: [Int]
    public private(set) var total: Int = 0
    public private(set) var maximum: Int64 = 0

    /// 1.04^600 µs is about 4.5 hours: a latency past that counts as the maximum seen.
    static let bucketCount = 600
    static let growth = 1.04

    public init() {
        counts = Array(repeating: 0, count: Self.bucketCount)
    }

    static func bound(_ index: Int) -> Int64 {
        Int64((pow(growth, Double(index))).rounded(.up))
    }

    static func index(_ micros: Int64) -> Int {
        guard micros > 1 else { return 0 }
        return min(bucketCount - 1, Int((log(Double(micros)) / log(growth)).rounded(.up)))
    }

    public mutating func record(micros: Int64) {
        let value = max(0, micros)
        counts[Self.index(value)] += 1
        total += 1
        maximum = max(maximum, value)
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        total += other.total
        maximum = max(maximum, other.maximum)
    }

    /// The value at quantile `q` (0...1), to within a bucket's width; nil without samples.
    public func percentile(_ q: Double) -> Int64? {
        guard total > 0 else { return nil }
        let rank = max(1, Int((q * Double(total)).rounded(.up)))
        var seen = 0
        for (index, count) in counts.enumerated() {
            seen += count
            if seen >= rank { return index == Self.bucketCount - 1 ? maximum : min(Self.bound(index), maximum) }
        }
        return maximum
    }

    enum CodingKeys: String, CodingKey {
        case buckets, total, maximum
    }

    /// Only the buckets that hold samples, as [index, count] pairs: a status file stays small.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        for pair in try container.decode([[Int]].self, forKey: .buckets) where pair.count == 2 && counts.indices.contains(pair[0]) {
            counts[pair[0]] = pair[1]
        }
        total = try container.decode(Int.self, forKey: .total)
        maximum = try container.decode(Int64.self, forKey: .maximum)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(counts.enumerated().filter { $0.element > 0 }.map { [$0.offset, $0.element] }, forKey: .buckets)
        try container.encode(total, forKey: .total)
        try container.encode(maximum, forKey: .maximum)
    }

    public var summary: LatencySummary {
        LatencySummary(samples: total, p50: percentile(0.5), p95: percentile(0.95), p99: percentile(0.99), max: total > 0 ? maximum : nil)
    }
}

/// What a person reads from a histogram: microseconds.
public struct LatencySummary: Sendable, Codable, Equatable {
    public var samples: Int
    public var p50: Int64?
    public var p95: Int64?
    public var p99: Int64?
    public var max: Int64?
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
