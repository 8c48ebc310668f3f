import Benchmark
import Crypto
import PGReflexPrivacy
import Synchronization

/// Where the "distinct values" benchmarks are in `values`, across samples: each sample must go
/// on to values not seen yet, or the cache would answer.
let position = Atomic<Int>(0)

/// What one protected value costs (the target: at most 1 µs), per policy, on distinct
/// values (no cache can help) and on one value repeated (an update carrying an unchanged
/// column). The reference is swift-crypto's HMAC-SHA256 of the same bytes: the floor a keyed
/// hash cannot go under.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(2))
    let keyring = try! PrivacyKeyring(parsing: "k1:" + String(repeating: "A", count: 43) + "=", source: "bench")
    // 4M values: more than the runs reach, so "distinct" stays distinct.
    let values = (0..<4_000_000).map { Array("user\($0)@example.com".utf8) }
    let key = SymmetricKey(size: .bits256)
    let policy = PrivacyPolicy(keyring: keyring)

    for (name, column) in [("hash", ColumnPolicy.hash), ("tokenize", .tokenize), ("mask (keep first 2)", .mask(MaskRule(keepFirst: 2)))] {
        Benchmark("privacy: \(name), distinct values", configuration: .init(scalingFactor: .kilo)) { benchmark in
            for _ in benchmark.scaledIterations {
                let i = position.wrappingAdd(1, ordering: .relaxed).oldValue
                values[i % values.count].withUnsafeBufferPointer { blackHole(policy.protect($0, with: column)) }
            }
        }
        Benchmark("privacy: \(name), one value repeated", configuration: .init(scalingFactor: .kilo)) { benchmark in
            for _ in benchmark.scaledIterations {
                values[0].withUnsafeBufferPointer { blackHole(policy.protect($0, with: column)) }
            }
        }
    }
    Benchmark("reference: HMAC-SHA256 (swift-crypto, keyed per call), distinct values", configuration: .init(scalingFactor: .kilo)) { benchmark in
        for _ in benchmark.scaledIterations {
            let i = position.wrappingAdd(1, ordering: .relaxed).oldValue
            blackHole(HMAC<SHA256>.authenticationCode(for: values[i % values.count], using: key))
        }
    }
}
