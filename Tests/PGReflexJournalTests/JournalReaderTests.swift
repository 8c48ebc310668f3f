import Foundation
import Logging
import PGReflexFiles
import PGReflexJournal
import PGReflexThreads
import PGReflexWire
import Testing

/// The tailing reader, the channel between writer and consumers, and retention that follows
/// the consumers: what `run`'s consumers are built on.
@Suite struct JournalReaderTests {
    let logger = Logger(label: "pgreflex.test.reader")

    func directory() -> String { JournalFixture.directory() }
    func record(_ i: Int) -> JournalRecord { JournalFixture.record(i) }

    func drain(_ reader: JournalReader, _ mark: JournalChannel.DurableMark, maxRecords: Int = .max) throws -> [JournalRecord] {
        var records: [JournalRecord] = []
        while try reader.read(upTo: mark, maxRecords: maxRecords, { records.append($0) }) > 0 {}
        return records
    }

    @Test func followsTheWriterAcrossSegmentsAndNeverReadsPastTheDurableMark() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096), logger: logger)
        let reader = JournalReader(directory: dir, after: nil)
        #expect(try drain(reader, journal.durableMark).isEmpty)
        var expected = 0
        for round in 0..<6 {
            for i in expected..<(expected + 150 + round * 37) { try journal.append(record(i)) }
            // Appended, some of it flushed to the file, but only what a segment roll synced is durable:
            // the reader stops there.
            let before = journal.durableMark
            let early = try drain(reader, before)
            #expect(early.last?.position == (early.isEmpty ? nil : before.position))
            try journal.sync()
            let read = early + (try drain(reader, journal.durableMark, maxRecords: 64))
            let upTo = expected + 150 + round * 37
            #expect(read == (expected..<upTo).map(record))
            expected = upTo
            #expect(reader.position == record(expected - 1).position)
        }
        #expect(try Journal.inspect(directory: dir).count > 10)
        // A reader resuming after a position reads exactly what follows it, across segment boundaries.
        for cut in [0, 1, 57, 300, expected - 2] {
            let resumed = JournalReader(directory: dir, after: record(cut).position)
            #expect(try drain(resumed, journal.durableMark) == ((cut + 1)..<expected).map(record))
            let inclusive = JournalReader(directory: dir, from: record(cut).position)
            #expect(try drain(inclusive, journal.durableMark) == (cut..<expected).map(record))
        }
        // `through` leaves what is after it for a later read.
        let bounded = JournalReader(directory: dir, after: nil)
        var first: [JournalRecord] = []
        while try bounded.read(upTo: journal.durableMark, through: record(99).position, { first.append($0) }) > 0 {}
        #expect(first == (0..<100).map(record))
        #expect(try drain(bounded, journal.durableMark) == (100..<expected).map(record))
    }

    @Test func aDropOldestConsumerIsToldWhatTheSizeBoundRemovedBeforeItRead() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096, retention: .init(maxBytes: 16_384)), logger: logger)
        for i in 0..<2000 { try journal.append(record(i)) }
        try journal.sync()
        let slow = JournalReader(directory: dir, after: nil)
        #expect(try slow.read(upTo: journal.durableMark, maxRecords: 10) { _ in } == 10)
        // A consumer that pauses capture has read everything; the slow one opted into drops.
        journal.retentionFloor = .init(keep: record(1999).position, dropping: ["slow": record(9).position])
        let removed = try journal.enforceRetention(force: true)
        #expect(removed.count > 5)
        #expect(journal.isFull == false)
        var skipped: [DroppedSegment] = []
        var rest: [JournalRecord] = []
        while try slow.read(upTo: journal.durableMark, skipped: { skipped += $0 }, { rest.append($0) }) > 0 {}
        // The segment it had open is read to its end; the ones it never opened are reported, exactly.
        let missing = 2000 - 10 - rest.count
        #expect(missing > 0)
        #expect(skipped.reduce(0) { $0 + $1.records } == missing)
        #expect(skipped.map(\.segment) == Array(removed.dropFirst()))
        #expect(rest.last == record(1999))
        #expect(rest.map(\.position) == rest.map(\.position).sorted())
        // Age retention never passes a drop_oldest consumer: it applies to what every consumer passed.
        let aged = try Journal(options: .init(directory: directory(), segmentBytes: 4096, retention: .init(maxAge: .seconds(1))), logger: logger)
        defer { try? FileManager.default.removeItem(atPath: aged.options.directory) }
        for i in 0..<400 { try aged.append(record(i)) }
        try aged.sync()
        aged.retentionFloor = .init(keep: record(399).position, dropping: ["slow": nil])
        #expect(try aged.enforceRetention(now: Date().timeIntervalSince1970 + 7200).isEmpty)
    }

    @Test func aFullJournalIsOneWithUnhandledRecordsOverTheBound() throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let journal = try Journal(options: .init(directory: dir, segmentBytes: 4096, retention: .init(maxBytes: 16_384)), logger: logger)
        for i in 0..<400 { try journal.append(record(i)) }
        try journal.sync()
        #expect(journal.totalBytes > 16_384)
        #expect(journal.totalBytes == (try Journal.inspect(directory: dir).reduce(0) { $0 + $1.bytes }))
        journal.retentionFloor = .init(keep: record(10).position)
        try journal.enforceRetention(force: true)
        #expect(journal.isFull, "the slowest consumer is at record 10: the journal cannot shrink under its bound")
        journal.retentionFloor = .init(keep: record(399).position)
        try journal.enforceRetention(force: true)
        #expect(!journal.isFull)
        #expect(journal.totalBytes == (try Journal.inspect(directory: dir).reduce(0) { $0 + $1.bytes }))
        // Over the bound with everything handled is not full: the segment being written cannot go yet.
        let tiny = try Journal(options: .init(directory: directory(), segmentBytes: 1 << 20, retention: .init(maxBytes: 1024)), logger: logger)
        defer { try? FileManager.default.removeItem(atPath: tiny.options.directory) }
        for i in 0..<100 { try tiny.append(record(i)) }
        try tiny.sync()
        tiny.retentionFloor = .init(keep: record(99).position)
        #expect(!tiny.isFull)
        tiny.retentionFloor = .init(keep: record(98).position)
        #expect(tiny.isFull)
    }

    @Test func theChannelNamesTheSlowestConsumerAndKeepsWhatItNeeds() {
        let channel = JournalChannel(mark: .init(position: EventPosition(commitLSN: LSN(500), ordinal: 0), segment: "s", offset: 10))
        #expect(channel.retentionFloor().keep == nil, "no consumer yet: nothing is known to be handled")
        channel.update("fast", .init(floor: EventPosition(commitLSN: LSN(500), ordinal: 0), pausesCapture: true))
        #expect(channel.lagging() == nil)
        channel.update("slow", .init(floor: EventPosition(commitLSN: LSN(100), ordinal: 3), pausesCapture: true))
        channel.update("lossy", .init(floor: nil, pausesCapture: false))
        let floor = channel.retentionFloor()
        #expect(floor.keep == EventPosition(commitLSN: LSN(100), ordinal: 3))
        #expect(floor.dropping == ["lossy": nil])
        #expect(channel.lagging()?.name == "slow")
        channel.update("new", .init(floor: nil, pausesCapture: true))
        #expect(channel.retentionFloor().keep == nil)
        #expect(channel.lagging()?.name == "new")
    }

    @Test func aWakeUpAfterTheCheckIsNeverLostAndCancellationEndsAWait() async {
        let signal = WakeSignal()
        let seen = signal.generation
        signal.notify()  // between a waiter's check and its wait
        await signal.wait(since: seen)  // returns at once
        let task = Task { await signal.wait(since: signal.generation) }
        task.cancel()
        await task.value
        await withTaskGroup(of: Void.self) { group in
            let seen = signal.generation
            for _ in 0..<8 { group.addTask { await signal.wait(since: seen) } }
            group.addTask { signal.notify() }
        }
        // With nothing to wake it, a wait with a timeout still ends.
        await signal.wait(since: signal.generation, timeout: .milliseconds(1))
    }
}
