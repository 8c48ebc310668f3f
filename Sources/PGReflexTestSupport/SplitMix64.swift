/// A small, seedable random generator, so that every randomized test is reproducible from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import Foundation

extension SplitMix64 {
    /// A randomized test's seed: `PGREFLEX_TEST_SEED` to replay one, else a fresh one. A test
    /// names it in its failure messages, so that a failure replays.
    public static func testSeed() -> UInt64 {
        ProcessInfo.processInfo.environment["PGREFLEX_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
    }
}
