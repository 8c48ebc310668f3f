// Journal append throughput against a reference in the same process: the same bytes written
// with plain write(2) and fdatasync at the same group size. The ratio is the journal's overhead
// (framing, CRC32C, segment rolls); records/s and MB/s are for this disk.
//
//   swift run -c release journal-append-bench [records] [envelope-bytes] [group]
import Foundation
import Logging
import PGReflexJournal
import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let count = arguments.count > 0 ? arguments[0] : 500_000
let envelopeBytes = arguments.count > 1 ? arguments[1] : 600
let group = arguments.count > 2 ? arguments[2] : 1000
let envelope = Array(repeating: UInt8(ascii: "x"), count: envelopeBytes - 1) + [UInt8(ascii: "\n")]
let base = NSTemporaryDirectory() + "pgreflex-journal-bench-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: base) }

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func journalRun() throws -> Double {
    let directory = base + "/journal"
    try? FileManager.default.removeItem(atPath: directory)
    let journal = try Journal(options: .init(directory: directory), logger: Logger(label: "bench"))
    let clock = ContinuousClock()
    let start = clock.now
    for i in 0..<count {
        let end: LSN? = i % 4 == 3 ? LSN(UInt64(1_000 + i * 100 + 50)) : nil
        try journal.append(JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(1_000 + i / 4 * 400)), ordinal: i % 4),
                                         transactionEnd: end, envelope: envelope))
        if (i + 1) % group == 0 { try journal.sync() }
    }
    try journal.sync()
    return seconds(start.duration(to: clock.now))
}

func referenceRun() throws -> Double {
    let path = base + "/plain"
    unlink(path)
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    precondition(fd >= 0)
    defer { close(fd) }
    // The same bytes per record as the journal writes (header and payload), without framing work.
    let framed = Array(repeating: UInt8(ascii: "x"), count: envelopeBytes + 8 + 17)
    var buffer: [UInt8] = []
    buffer.reserveCapacity(1 << 20)
    let clock = ContinuousClock()
    let start = clock.now
    func flush() {
        _ = buffer.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        buffer.removeAll(keepingCapacity: true)
    }
    for i in 0..<count {
        buffer.append(contentsOf: framed)
        if buffer.count >= 1 << 20 { flush() }
        if (i + 1) % group == 0 {
            flush()
            fdatasync(fd)
        }
    }
    flush()
    fdatasync(fd)
    return seconds(start.duration(to: clock.now))
}

try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
let megabytes = Double(count * (envelopeBytes + 25)) / 1e6
print("records=\(count) envelope_bytes=\(envelopeBytes) fsync_every=\(group)")
var ratios: [Double] = []
for round in 1...3 {
    let reference = try referenceRun()
    let journal = try journalRun()
    ratios.append(journal / reference)
    print(String(format: "round %d: journal %.0f records/s %.1f MB/s | plain write+fdatasync %.0f records/s %.1f MB/s | ratio %.2f",
                 round, Double(count) / journal, megabytes / journal, Double(count) / reference, megabytes / reference, journal / reference))
}
print(String(format: "median ratio (journal time / reference time): %.2f", ratios.sorted()[1]))
