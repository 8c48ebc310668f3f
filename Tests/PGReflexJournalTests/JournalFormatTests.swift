import Foundation
import Logging
import PGReflexJournal
import PGReflexTestSupport
import PGReflexWire
import Testing

/// Record metadata (formats 2 to 4), journals of formats 1 to 3 still read, unknown formats refused.
@Suite struct JournalFormatTests {
    let logger = Logger(label: "pgreflex.test.journal")

    func metadata(_ i: Int) -> JournalRecord.Metadata {
        // Every seventh a snapshot read aimed at one route (flag 4).
        JournalRecord.Metadata(table: i % 5 == 0 ? "" : "public.t\(i % 3)", operation: i % 7 == 3 ? UInt8(ascii: "r") : Array("cudtm".utf8)[i % 5],
                               schemaVersion: i % 5 == 0 ? nil : i % 4 + 1, xid: UInt32(i), commitTime: Int64(i) * 1_000_003 - 7,
                               keyHash: JournalRecord.Metadata.keyHash(Array("{\"id\":\(i)}".utf8)),
                               route: i % 7 == 3 ? "route_\(i % 2 == 0 ? "" : "é")\(i)" : nil, causation: causation(i),
                               journaledAt: i % 4 == 0 ? 0 : 1_800_000_000_000_000 + Int64(i))
    }

    /// Every kind of causation (flag 8), and records without it.
    func causation(_ i: Int) -> JournalRecord.Metadata.Causation {
        switch i % 6 {
        case 0: .unknown
        case 1: .none
        case 2: .agent(depth: i % 3 + 1, agent: "fixer_\(i)")
        case 3: .tag(depth: 1, agent: "é")
        case 4: .unreadableTag
        default: .agent(depth: 3, agent: "")
        }
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

    /// What opening a journal whose one segment an older pgreflex wrote (in `format`, holding
    /// `old`) and appending a record to it gives.
    struct Continued {
        var lastAppendedAtOpen: EventPosition?
        var new: JournalRecord
        var read: [JournalRecord]
        var segments: [Journal.SegmentInfo]
        /// The old segment's bytes as written, and as they are after the append.
        var oldBytes: [UInt8]
        var oldBytesAfter: [UInt8]
        var newHeader: [UInt8]
    }

    func continueOlderJournal(format: UInt8, _ old: [JournalRecord]) throws -> Continued {
        let dir = NSTemporaryDirectory() + "pgreflex-format\(format)-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var bytes = Array("PGRJ".utf8) + [format, 0, 0, 0]
        for record in old { record.encode(into: &bytes) }
        let oldPath = dir + "/0000000000000064-00000000.seg"
        try Data(bytes).write(to: URL(fileURLWithPath: oldPath))
        let journal = try Journal(options: .init(directory: dir), logger: logger)
        let lastAppended = journal.lastAppended
        let new = JournalRecord(position: EventPosition(commitLSN: LSN(200), ordinal: 0), transactionEnd: LSN(200),
                                metadata: metadata(2), envelope: Array("{\"new\":1}\n".utf8))
        try journal.append(new)
        try journal.sync()
        var read: [JournalRecord] = []
        try journal.read { read.append($0) }
        let segments = try Journal.inspect(directory: dir)
        return Continued(lastAppendedAtOpen: lastAppended, new: new, read: read, segments: segments, oldBytes: bytes,
                         oldBytesAfter: Array(try Data(contentsOf: URL(fileURLWithPath: oldPath))),
                         newHeader: Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + segments.last!.name)).prefix(8)))
    }

    @Test func aFormatOneJournalIsReadAndContinuedInANewSegment() throws {
        // Records as format 1 wrote them: without metadata.
        let old = (0..<10).map { i in
            JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(100 + i)), ordinal: 0), transactionEnd: LSN(UInt64(100 + i)),
                          envelope: Array("{\"old\":\(i)}\n".utf8))
        }
        let continued = try continueOlderJournal(format: 1, old)
        #expect(continued.lastAppendedAtOpen == old.last?.position)
        #expect(continued.read == old + [continued.new])
        #expect(continued.read.prefix(10).allSatisfy { $0.metadata == nil })
        #expect(continued.segments.count == 2, "the format 1 segment is closed as it is; new records start a new one")
        #expect(continued.oldBytesAfter == continued.oldBytes)
        #expect(continued.newHeader == Array("PGRJ".utf8) + [JournalSegment.format, 0, 0, 0])
    }

    @Test func aFormatTwoJournalIsReadWithCausationUnknownAndContinuedInAFormatThreeSegment() throws {
        let old = (0..<10).map { i in
            var meta = metadata(i)
            meta.causation = .unknown  // format 2 never said
            meta.journaledAt = 0
            return JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(100 + i)), ordinal: 0), transactionEnd: LSN(UInt64(100 + i)),
                                 metadata: meta, envelope: Array("{\"old\":\(i)}\n".utf8))
        }
        let continued = try continueOlderJournal(format: 2, old)
        #expect(continued.read == old + [continued.new])
        #expect(continued.read.prefix(10).allSatisfy { $0.metadata?.causation == .unknown })
        #expect(continued.segments.count == 2, "the format 2 segment is closed as it is; new records start a format 4 one")
        #expect(continued.oldBytesAfter == continued.oldBytes)
        #expect(continued.newHeader == Array("PGRJ".utf8) + [4, 0, 0, 0])
    }

    @Test func aFormatThreeJournalIsReadWithoutJournalTimesAndContinuedInAFormatFourSegment() throws {
        let old = (0..<10).map { i in
            var meta = metadata(i)
            meta.journaledAt = 0  // format 3 never said
            return JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(100 + i)), ordinal: 0), transactionEnd: LSN(UInt64(100 + i)),
                                 metadata: meta, envelope: Array("{\"old\":\(i)}\n".utf8))
        }
        let continued = try continueOlderJournal(format: 3, old)
        #expect(continued.read == old + [continued.new])
        #expect(continued.segments.count == 2 && continued.oldBytesAfter == continued.oldBytes)
        #expect(continued.newHeader == Array("PGRJ".utf8) + [4, 0, 0, 0])
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
