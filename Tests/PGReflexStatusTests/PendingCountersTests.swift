import MetricsTestKit
import PGReflexStatus
import PGReflexTestSupport
import Testing

/// Counts held back between flushes reach each key's counter whole, in runs or interleaved.
@Suite struct PendingCountersTests {
    @Test func runsAndInterleavedKeysAddUpPerKey() throws {
        let metrics = TestMetrics()
        var counters = PendingCounters<String>(label: "events_total", factory: metrics)
        var expected: [String: Int64] = [:]
        let seed = SplitMix64.testSeed()
        var random = SplitMix64(seed: seed)
        for round in 0..<3 {
            for _ in 0..<1_000 {
                // Mostly runs of one key, with switches, as a route's events come.
                let key = ["a", "b", "c"][Int.random(in: 0..<(round == 1 ? 3 : 2), using: &random)]
                let amount = Int.random(in: 1...3, using: &random)
                for _ in 0..<Int.random(in: 1...5, using: &random) {
                    counters.add(key, amount)
                    expected[key, default: 0] += Int64(amount)
                }
            }
            counters.flush { [("key", $0)] }
            for (key, total) in expected {
                #expect(try metrics.expectCounter("events_total", [("key", key)]).totalValue == total, "PGREFLEX_TEST_SEED=\(seed)")
            }
        }
        counters.flush { [("key", $0)] }  // nothing pending: nothing more counted
        #expect(metrics.counters.map(\.totalValue).reduce(0, +) == expected.values.reduce(0, +))
    }
}
