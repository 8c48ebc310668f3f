import Benchmark
import PGReflexJournal

/// The journal's CRC32C over a record-sized buffer (a 600-byte envelope): the CPU's
/// instruction (what `CRC32C.checksum` uses where the CPU has it) against the table-driven
/// software version that was the only one before.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(2))
    let record = (0..<600).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    Benchmark("crc32c: instruction, 600 bytes", configuration: .init(scalingFactor: .kilo)) { benchmark in
        record.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations { blackHole(CRC32C.checksum(bytes)) }
        }
    }
    Benchmark("reference: crc32c slicing-by-8, 600 bytes", configuration: .init(scalingFactor: .kilo)) { benchmark in
        record.withUnsafeBytes { bytes in
            for _ in benchmark.scaledIterations { blackHole(CRC32C.software(bytes)) }
        }
    }
}
