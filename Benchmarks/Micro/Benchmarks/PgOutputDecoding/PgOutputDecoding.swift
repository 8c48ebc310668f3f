import Benchmark
import PGReflexWire

/// pgoutput decoding (the target: at least 2M messages/s on one core) on a transaction
/// shaped like the bench's scenario a: Begin, 100 Inserts into a 7-column `orders` row, Commit.
/// The reference copies each message's bytes out, as pg_recvlogical does with what it receives.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(2))
    var storage: [UInt8] = []
    var ranges: [Range<Int>] = []
    func message(_ bytes: [UInt8]) {
        ranges.append(storage.count..<(storage.count + bytes.count))
        storage += bytes
    }
    func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    message([UInt8(ascii: "B")] + be(UInt64(0x1_6B37_4800)) + be(Int64(786_000_000_000_000)) + be(UInt32(7_421)))
    for row in 0..<100 {
        let values = ["\(1_000 + row)", "\((row * 7919) % 100_003)", "\(row).50", "paid", row % 7 == 0 ? "t" : "f",
                      "user\(row)@example.com", "note 5f4dcc3b5aa765d61d8327deb882cf99"]
        var insert: [UInt8] = [UInt8(ascii: "I")] + be(UInt32(16_384)) + [UInt8(ascii: "N")] + be(UInt16(values.count))
        for value in values { insert += [UInt8(ascii: "t")] + be(UInt32(value.utf8.count)) + Array(value.utf8) }
        message(insert)
    }
    message([UInt8(ascii: "C"), 0] + be(UInt64(0x1_6B37_4800)) + be(UInt64(0x1_6B37_9000)) + be(Int64(786_000_000_000_000)))
    let frozenStorage = storage
    let frozenRanges = ranges

    Benchmark("pgoutput: decode a 100-row transaction (102 messages)",
              configuration: .init(scalingFactor: .one, thresholds: nil)) { benchmark in
        var decoder = PgOutputDecoder(protocolVersion: 2)
        for _ in benchmark.scaledIterations {
            for range in frozenRanges {
                blackHole(try! decoder.decode(storage: frozenStorage, range: range))
            }
        }
    }
    Benchmark("reference: copy out the same 102 messages", configuration: .init(scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations {
            for range in frozenRanges {
                blackHole(Array(frozenStorage[range]))
            }
        }
    }
}
