import Foundation
import Logging
import PGReflexJournal
import PGReflexWire
import Testing

@Suite struct JournalTests {
    let logger = Logger(label: "pgreflex.test.journal")

    func directory() -> String { JournalFixture.directory() }
    func record(_ i: Int) -> JournalRecord { JournalFixture.record(i) }

    @Test func appendsAcrossSegmentsReopensAndReadsRanges() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096), logger: logger)
            for i in 0..<2000 { try journal.append(record(i)) }
            try journal.sync()
            #expect(journal.durable == record(1999).position)
            #expect(journal.durableTransactionEnd == record(1999).transactionEnd)
        }
        let segments = try Journal.inspect(directory: dir)
        #expect(segments.count > 10)
        #expect(segments.allSatisfy { $0.problem == nil })
        #expect(segments.reduce(0) { $0 + $1.records } == 2000)
        #expect(segments.first?.first == record(0).position)

        let reopened = try Journal(options: .init(directory: dir, segmentBytes: 4096), logger: logger)
        #expect(reopened.lastAppended == record(1999).position)
        var range: [JournalRecord] = []
        try reopened.read(from: record(500).position, to: record(1203).position) { range.append($0) }
        #expect(range == (500...1203).map(record))
        #expect(throws: JournalError.self) { try reopened.append(record(1999)) }
        try reopened.append(record(2000))
        try reopened.sync()
        var all = 0
        try reopened.read { _ in all += 1 }
        #expect(all == 2001)
    }

    @Test func retentionRemovesOnlyDeliveredSegmentsOldestFirstAndRefusesRemovedRanges() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096, retention: .init(maxBytes: 16_384)), logger: logger)
        for i in 0..<2000 { try journal.append(record(i)) }
        try journal.sync()
        // Nothing delivered: nothing may go, however large the journal.
        #expect(try journal.enforceRetention(force: true).isEmpty)
        let before = try Journal.inspect(directory: dir)

        journal.retentionFloor = .init(keep: record(999).position)
        let removed = try journal.enforceRetention(force: true)
        #expect(!removed.isEmpty)
        let after = try Journal.inspect(directory: dir)
        #expect(removed == Array(before.prefix(removed.count)).map(\.name))
        // Each removed segment was wholly delivered; the oldest kept one starts where they end.
        let floor = try #require(journal.retainedFrom)
        #expect(after.first?.first == floor)
        #expect(floor <= record(999).position)
        // Still over the limit: what is left is undelivered (or the first segment holding it).
        #expect(after.reduce(0) { $0 + $1.bytes } > 16_384)

        journal.retentionFloor = .init(keep: record(1999).position)
        try journal.enforceRetention(force: true)
        #expect(try Journal.inspect(directory: dir).reduce(0) { $0 + $1.bytes } <= 16_384 + 4096 * 2)

        // A replay from before the floor is refused, naming the oldest position kept; the marker survives a reopen.
        let reader = try Journal(options: .init(directory: dir, readOnly: true), logger: logger)
        let kept = try #require(reader.retainedFrom)
        #expect(kept == journal.retainedFrom)
        let error = try #require(throws: JournalError.self) { try reader.requireRetained(record(0).position) }
        #expect(error.code == .beforeRetention)
        #expect(error.message.contains("\(kept.commitLSN)"))
        try reader.requireRetained(kept)
        var count = 0
        try reader.read(from: kept) { _ in count += 1 }
        #expect(count > 0 && count < 2000)
    }

    @Test func retentionByAgeUsesTheSegmentsLastWrite() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096, retention: .init(maxAge: .seconds(3600))), logger: logger)
        for i in 0..<400 { try journal.append(record(i)) }
        try journal.sync()
        journal.retentionFloor = .init(keep: record(399).position)
        let names = try Journal.inspect(directory: dir).map(\.name)
        let now = Date().timeIntervalSince1970
        #expect(try journal.enforceRetention(now: now).isEmpty)
        // Two hours on, every segment but the one being written is too old.
        #expect(try journal.enforceRetention(now: now + 7200) == Array(names.dropLast()))
        #expect(try Journal.inspect(directory: dir).map(\.name) == [names.last!])
    }

    @Test func oneWriterAtATimeAndReadersBesideIt() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try Journal(options: .init(directory: dir), logger: logger)
        try writer.append(record(0))
        try writer.sync()
        let error = try #require(throws: JournalError.self) { _ = try Journal(options: .init(directory: dir), logger: logger) }
        #expect(error.code == .locked)
        let reader = try Journal(options: .init(directory: dir, readOnly: true), logger: logger)
        #expect(reader.lastAppended == record(0).position)
    }

    @Test func reopeningFindsTheLastTransactionEndInAnEarlierSegment() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096), logger: logger)
            try journal.append(record(3))  // ends its transaction
            // One long transaction that spans several segments and has not ended.
            for i in 0..<200 {
                try journal.append(JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(90_000)), ordinal: i), transactionEnd: nil,
                                                 envelope: Array(String(repeating: "x", count: 100).utf8)))
            }
            try journal.sync()
        }
        #expect(try Journal.inspect(directory: dir).count > 2)
        let reopened = try Journal(options: .init(directory: dir, segmentBytes: 4096), logger: logger)
        #expect(reopened.lastAppended == EventPosition(commitLSN: LSN(UInt64(90_000)), ordinal: 199))
        #expect(reopened.durableTransactionEnd == record(3).transactionEnd)
    }

    @Test func aTornTailIsCutOnOpenAndCorruptionIsRefusedUntilRepaired() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096), logger: logger)
            for i in 0..<300 { try journal.append(record(i)) }
            try journal.sync()
        }
        var segments = try Journal.inspect(directory: dir)
        // A crash mid-write: the last segment ends inside a record.
        let last = dir + "/" + segments.last!.name
        let lastBytes = try Data(contentsOf: URL(fileURLWithPath: last))
        try lastBytes.prefix(lastBytes.count - 10).write(to: URL(fileURLWithPath: last))
        do {
            let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096), logger: logger)
            #expect(journal.lastAppended == record(298).position)
            try journal.append(record(299))
            try journal.sync()
        }
        // A flipped byte in an earlier segment: reading over it fails, naming segment and offset; repairable.
        segments = try Journal.inspect(directory: dir)
        let victim = dir + "/" + segments[2].name
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: victim)))
        bytes[JournalSegment.header.count + 30] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: victim))
        do {
            // Opening verifies the newest segments only; older ones are verified as they are read.
            let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096), logger: logger)
            var seen = 0
            try journal.read { _ in seen += 1 }
            Issue.record("read \(seen) records over corruption")
        } catch let error as JournalError {
            #expect(error.code == .corruptRecord)
            #expect(error.segment == victim)
            #expect(error.offset == JournalSegment.header.count)
        }
        #expect(try Journal.inspect(directory: dir)[2].problem?.code == .corruptRecord)
        let cut = try Journal.repair(directory: dir)
        #expect(cut.count == 1 && cut[0].segment == segments[2].name)
        #expect(try Journal.inspect(directory: dir).allSatisfy { $0.problem == nil })
    }

    @Test func groupCommitSyncsWhenDryOnCountOrDelay() {
        let clock = ContinuousClock()
        let start = clock.now
        var policy = GroupCommit<ContinuousClock.Instant>(maxRecords: 3, maxDelay: .milliseconds(20))
        #expect(policy.deadline == nil)
        #expect(policy.appended(at: start) == .none)
        #expect(policy.deadline == start.advanced(by: .milliseconds(20)))
        #expect(policy.appended(at: start.advanced(by: .milliseconds(1))) == .none)
        #expect(policy.appended(at: start.advanced(by: .milliseconds(2))) == .sync)
        policy.synced()
        #expect(policy.appended(at: start.advanced(by: .milliseconds(5))) == .none)
        #expect(policy.tick(at: start.advanced(by: .milliseconds(24))) == .none)
        #expect(policy.tick(at: start.advanced(by: .milliseconds(25))) == .sync)
        policy.synced()
        #expect(policy.tick(at: start.advanced(by: .seconds(5))) == .none)
        // Natural batching: running dry syncs at once whatever is pending, and nothing else.
        #expect(policy.inputRanDry() == .none)
        #expect(policy.appended(at: start.advanced(by: .seconds(6))) == .none)
        #expect(policy.inputRanDry() == .sync)
        policy.synced()
        #expect(policy.inputRanDry() == .none)
    }
}

@Suite struct CheckpointTests {
    @Test func savesAtomicallyAndLoadsBack() throws {
        let path = NSTemporaryDirectory() + "pgreflex-checkpoint-\(UUID().uuidString).json"
        defer { unlink(path) }
        #expect(try Checkpoint.load(path) == nil)
        let first = Checkpoint(position: EventPosition(commitLSN: LSN("0/16B3748")!, ordinal: 3), transactionEnd: LSN("0/16B3790"))
        try first.save(path)
        #expect(try Checkpoint.load(path) == first)
        let second = Checkpoint(position: EventPosition(commitLSN: LSN("1/0")!, ordinal: 0), transactionEnd: nil)
        try second.save(path)
        #expect(try Checkpoint.load(path) == second)
        // Held tables, with names that need escaping.
        let held = Checkpoint(position: EventPosition(commitLSN: LSN("1/0")!, ordinal: 0), transactionEnd: nil, held: [
            "public.orders": .init(position: EventPosition(commitLSN: LSN("0/20")!, ordinal: 2), version: 3),
            "odd\"schema.t/x": .init(position: EventPosition(commitLSN: LSN("0/30")!, ordinal: 0), version: 1),
        ])
        try held.save(path)
        #expect(try Checkpoint.load(path) == held)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        // A checkpoint as the JSONSerialization writer before Codable wrote it still loads.
        try Data(#"{"version":1,"commit_lsn":"0/16B3748","ordinal":3,"transaction_end":"0/16B3790","held":{"public.orders":{"commit_lsn":"0/20","ordinal":2,"version":3}}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        #expect(try Checkpoint.load(path) == Checkpoint(position: first.position, transactionEnd: first.transactionEnd,
                                                        held: ["public.orders": held.held["public.orders"]!]))
    }

    @Test func aDamagedCheckpointSaysWhatToDo() throws {
        let path = NSTemporaryDirectory() + "pgreflex-checkpoint-\(UUID().uuidString).json"
        defer { unlink(path) }
        try Data("{\"version\":1,\"commit_lsn\":\"zz\"".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Checkpoint.load(path)
            Issue.record("loaded a damaged checkpoint")
        } catch let error as JournalError {
            #expect(error.segment == path)
            #expect(error.message.contains("Move it away"))
        }
    }
}
