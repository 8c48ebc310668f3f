import Foundation
import Logging
import PGReflexJournal
import PGReflexTestSupport
import PGReflexWire
import Testing

/// Record metadata (format 2), journals of format 1 still read, unknown formats refused.
@Suite struct JournalFormatTests {
    let logger = Logger(label: "pgreflex.test.journal")

    func metadata(_ i: Int) -> JournalRecord.Metadata {
        // Every seventh a snapshot read aimed at one route (flag 4).
        JournalRecord.Metadata(table: i % 5 == 0 ? "" : "public.t\(i % 3)", operation: i % 7 == 3 ? UInt8(ascii: "r") : Array("cudtm".utf8)[i % 5],
                               schemaVersion: i % 5 == 0 ? nil : i % 4 + 1, xid: UInt32(i), commitTime: Int64(i) * 1_000_003 - 7,
                               keyHash: JournalRecord.Metadata.keyHash(Array("{\"id\":\(i)}".utf8)),
                               route: i % 7 == 3 ? "route_\(i % 2 == 0 ? "" : "é")\(i)" : nil)
    }

    @Test func metadataRoundTripsThroughSegments() throws {
        let dir = NSTemporaryDirectory() + "pgreflex-format-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let records = (0..<500).map { i in
            JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(1000 + i)), ordinal: 0), transactionEnd: LSN(UInt64(1000 + i)),
                          metadata: metadata(i), envelope: Array("{\"i\":\(i)}\n".utf8))
        }
        do {
            let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096), logger: logger)
            for record in records { try journal.append(record) }
            try journal.sync()
        }
        var read: [JournalRecord] = []
        try Journal(options: .init(directory: dir, readOnly: true), logger: logger).read { read.append($0) }
        #expect(read == records)
        // FNV-1a 64 known answers: the hash is part of the format.
        #expect(JournalRecord.Metadata.keyHash([UInt8]()) == 0xCBF2_9CE4_8422_2325)
        #expect(JournalRecord.Metadata.keyHash(Array("a".utf8)) == 0xAF63_DC4C_8601_EC8C)
    }

    @Test func aFormatOneJournalIsReadAndContinuedInANewSegment() throws {
        let dir = NSTemporaryDirectory() + "pgreflex-format1-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A segment as format 1 wrote it: its header, then records without metadata.
        var bytes = Array("PGRJ".utf8) + [1, 0, 0, 0]
        let old = (0..<10).map { i in
            JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(100 + i)), ordinal: 0), transactionEnd: LSN(UInt64(100 + i)),
                          envelope: Array("{\"old\":\(i)}\n".utf8))
        }
        for record in old { record.encode(into: &bytes) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/0000000000000064-00000000.seg"))

        let journal = try Journal(options: .init(directory: dir), logger: logger)
        #expect(journal.lastAppended == old.last?.position)
        let new = JournalRecord(position: EventPosition(commitLSN: LSN(200), ordinal: 0), transactionEnd: LSN(200),
                                metadata: metadata(1), envelope: Array("{\"new\":1}\n".utf8))
        try journal.append(new)
        try journal.sync()
        var read: [JournalRecord] = []
        try journal.read { read.append($0) }
        #expect(read == old + [new])
        #expect(read.prefix(10).allSatisfy { $0.metadata == nil })
        let segments = try Journal.inspect(directory: dir)
        #expect(segments.count == 2, "the format 1 segment is closed as it is; new records start a format 2 one")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/0000000000000064-00000000.seg")) == Data(bytes))
    }

    @Test func anUnknownFormatIsRefusedByName() throws {
        let dir = NSTemporaryDirectory() + "pgreflex-format9-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(Array("PGRJ".utf8) + [9, 0, 0, 0]).write(to: URL(fileURLWithPath: dir + "/0000000000000064-00000000.seg"))
        let error = try #require(throws: JournalError.self) { try Journal(options: .init(directory: dir), logger: logger) }
        #expect(error.code == .unknownFormat)
        #expect(error.message.contains("journal format 9 was written by a newer pgreflex"), "\(error)")
    }
}
