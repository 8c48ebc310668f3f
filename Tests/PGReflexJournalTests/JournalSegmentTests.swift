import Foundation
import PGReflexJournal
import PGReflexWire
import PGReflexTestSupport
import Testing

@Suite struct JournalSegmentTests {
    func temporaryPath() -> String {
        NSTemporaryDirectory() + "pgreflex-segment-\(UUID().uuidString).seg"
    }

    func records(_ count: Int) -> [JournalRecord] {
        (0..<count).map { i in
            JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(1000 + i / 3 * 100)), ordinal: i % 3),
                          transactionEnd: i % 3 == 2 ? LSN(UInt64(1050 + i / 3 * 100)) : nil,
                          envelope: Array("{\"n\":\(i),\"text\":\"\(String(repeating: "x", count: i % 50))\"}".utf8))
        }
    }

    func write(_ records: [JournalRecord], to path: String) throws {
        let writer = try JournalSegmentWriter(path: path)
        for record in records { writer.append(record) }
        try writer.sync()
    }

    @Test func crc32cKnownValues() {
        for checksum in [CRC32C.checksum(_:seed:), CRC32C.software(_:seed:)] {
            func crc(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0, 0) } }
            #expect(crc(Array("123456789".utf8)) == 0xE306_9283)
            #expect(crc([]) == 0)
            #expect(crc([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        }
    }

    /// The instruction and the table agree at every length, alignment and seed; a journal
    /// written on one machine reads on another.
    @Test func crc32cInstructionAgreesWithTheTable() throws {
        // Where the CPU has the instruction, the test must be testing it.
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if flags.contains(" sse4_2") || flags.contains(" crc32") { #expect(CRC32C.usesHardware) }
        let testSeed = SplitMix64.testSeed()
        var generator = SplitMix64(seed: testSeed)
        let bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            for length in 0..<300 {
                for offset in 0..<8 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    let seed = UInt32.random(in: 0...UInt32.max, using: &generator)
                    #expect(CRC32C.checksum(slice, seed: seed) == CRC32C.software(slice, seed: seed), "length \(length) offset \(offset), PGREFLEX_TEST_SEED=\(testSeed)")
                }
            }
            #expect(CRC32C.checksum(all) == CRC32C.software(all))
            // A seed continues a checksum: two halves give the whole.
            let half = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[..<1000]))
            #expect(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[1000...]), seed: half) == CRC32C.checksum(all))
        }
    }

    @Test func recordsRoundTrip() throws {
        let path = temporaryPath()
        defer { unlink(path) }
        let written = records(100)
        try write(written, to: path)
        var read: [JournalRecord] = []
        let scan = try JournalSegment.scan(path) { record, _ in read.append(record) }
        #expect(read == written)
        #expect(scan.records == 100 && !scan.tornTail)
    }

    @Test func aTornLastRecordIsCutAndWritingContinues() throws {
        let path = temporaryPath()
        defer { unlink(path) }
        try write(records(10), to: path)
        let full = try JournalSegment.scan(path)
        // Every possible cut inside the last record reads as a torn tail, never as corruption.
        var offsets: [Int] = []
        _ = try JournalSegment.scan(path) { _, offset in offsets.append(offset) }
        for cut in (offsets.last! + 1)..<full.fileSize {
            let copy = temporaryPath()
            defer { unlink(copy) }
            try Data(contentsOf: URL(fileURLWithPath: path)).prefix(cut).write(to: URL(fileURLWithPath: copy))
            let scan = try JournalSegment.scan(copy)
            #expect(scan.records == 9 && scan.tornTail && scan.validEnd == offsets.last!)
        }
        // Continue after the torn tail: the cut bytes are gone and new records follow.
        try Data(contentsOf: URL(fileURLWithPath: path)).prefix(full.fileSize - 3).write(to: URL(fileURLWithPath: path))
        let torn = try JournalSegment.scan(path)
        let writer = try JournalSegmentWriter(path: path, continuingAt: torn.validEnd)
        writer.append(records(11)[10])
        try writer.sync()
        var read: [JournalRecord] = []
        let again = try JournalSegment.scan(path) { record, _ in read.append(record) }
        #expect(!again.tornTail && read.count == 10 && read.last == records(11)[10])
    }

    @Test func aBadChecksumInTheMiddleIsAnErrorNamingSegmentAndOffset() throws {
        let path = temporaryPath()
        defer { unlink(path) }
        try write(records(10), to: path)
        var offsets: [Int] = []
        _ = try JournalSegment.scan(path) { _, offset in offsets.append(offset) }
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[offsets[4] + 20] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try JournalSegment.scan(path)
            Issue.record("corruption was not detected")
        } catch let error as JournalError {
            #expect(error.code == .corruptRecord)
            #expect(error.segment == path)
            #expect(error.offset == offsets[4])
            #expect(error.description.contains("journal repair"))
        }
        // Repair: cut at the bad record; what precedes it reads cleanly.
        try JournalSegment.truncate(path, at: offsets[4])
        #expect(try JournalSegment.scan(path).records == 4)
    }

    @Test func foreignFilesAreRejected() throws {
        let path = temporaryPath()
        defer { unlink(path) }
        try Data("definitely not a journal".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: JournalError.self) { try JournalSegment.scan(path) }
    }
}
