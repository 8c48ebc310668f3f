import Foundation
import GRDB
@testable import PGReflexState
import PGReflexWire
import Synchronization
import Testing

/// The embedded state store: outcomes and cursors move together, survive a reopen, and the
/// dead-letter queue filters and removes.
@Suite struct SQLiteStateStoreTests {
    func directory() -> String { NSTemporaryDirectory() + "pgreflex-state-\(UUID().uuidString)" }

    func letter(_ event: String, route: String = "fraud", table: String = "public.orders", at: Int64) -> DeadLetter {
        DeadLetter(eventID: event, route: route, agent: "fraud-agent", table: table, envelope: Array("{\"id\":\"\(event)\"}\n".utf8),
                   errorClass: "permanent", message: "422 from the agent", attempts: 1, firstAttempt: at, lastAttempt: at)
    }

    /// One letter per event and route, whatever commits it twice (issue 26: a re-read after a
    /// kill -9 dead-lettered the same event again, and `dlq retry` delivered it twice).
    @Test func anEventHasAtMostOneLetterPerRoute() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStateStore(directory: dir)
        try await store.commit(StateCommit(deadLetters: [letter("e1", at: 10)]))
        try await store.commit(StateCommit(deadLetters: [letter("e1", at: 20), letter("e1", route: "other", at: 20)]))
        #expect(try await store.deadLetterCounts() == ["fraud": 1, "other": 1])
        #expect(try await store.deadLetters(DeadLetterFilter()).filter { $0.route == "fraud" }.map(\.firstAttempt) == [10], "the first letter stays")
    }

    @Test func outcomesAndCursorsSurviveAReopenAndDuplicatesAreKnown() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = DoneKey(eventID: EventID.string(lsn: 0x16B3748, ordinal: 0), route: "fraud", agent: "fraud-agent")
        let b = DoneKey(eventID: EventID.string(lsn: 0x16B3748, ordinal: 1), route: "fraud", agent: "fraud-agent")
        do {
            let store = try SQLiteStateStore(directory: dir)
            try await store.commit(StateCommit(done: [a], deadLetters: [letter("0/16B3748:2", at: 10)],
                                               skips: [Skip(eventID: "0/16B3748:3", route: "fraud", table: "public.orders", reason: .rateLimit, at: 20)],
                                               windowAdded: [WindowEntry(route: "fraud", key: "c7", eventID: "w1", table: "public.orders", op: "c",
                                                                         at: 5, envelope: [1, 2])],
                                               cursor: StoredCursor(consumer: "route.fraud", commitLSN: 0x16B3748, ordinal: 2, agentMark: 42)))
            try await store.commit(StateCommit(done: [a]))  // a duplicate is harmless
        }
        let reopened = try SQLiteStateStore(directory: dir)
        #expect(try await reopened.lastDone(route: "fraud", agent: "fraud-agent") == a.eventID)
        #expect(try await reopened.skipCounts(route: nil) == [SkipCount(route: "fraud", reason: "rate_limit", count: 1, last: 20)])
        #expect(try await reopened.windowEntries(route: "fraud").map(\.eventID) == ["w1"])
        try await reopened.commit(StateCommit(windowRemoved: [(route: "fraud", eventID: "w1")]))
        #expect(try await reopened.windowEntries(route: "fraud").isEmpty)
        #expect(try await reopened.done(among: [a, b], since: nil) == [a])
        #expect(try await reopened.done(among: [a, b], since: Int64(Date().timeIntervalSince1970 * 1e6) + 60_000_000).isEmpty)
        #expect(try await reopened.cursor("route.fraud") == StoredCursor(consumer: "route.fraud", commitLSN: 0x16B3748, ordinal: 2, agentMark: 42))
        #expect(try await reopened.cursor("route.other") == nil)
        #expect(try await reopened.deadLetters(.init()).map(\.eventID) == ["0/16B3748:2"])
        #expect(try await reopened.pruneDone(route: "fraud", agent: "fraud-agent", before: 0x16B3748, keysBefore: 0) == 0, "the floor's bucket stays")
        #expect(try await reopened.pruneDone(route: "fraud", agent: "fraud-agent", before: 0x26B3748, keysBefore: 0) == 2, "a's record and its duplicate's")
        #expect(try await reopened.done(among: [a], since: nil).isEmpty)
    }

    /// `run` and `snapshot start` open a new store at once: neither may fail on the lock that
    /// turning the file to WAL takes (CI saw `database is locked` there once).
    @Test func openersRacingOnANewStoreAllSucceed() throws {
        for _ in 0..<20 {
            let dir = directory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                do { _ = try SQLiteStateStore(directory: dir) } catch { failures.withLock { $0.append("\(error)") } }
            }
            #expect(failures.withLock { $0 } == [])
        }
    }

    @Test func theDeadLetterQueueFiltersAndRemoves() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStateStore(directory: dir)
        try await store.commit(StateCommit(deadLetters: [
            letter("e1", at: 100), letter("e2", route: "reorder", table: "public.inventory", at: 200), letter("e3", at: 300),
        ]))
        let all = try await store.deadLetters(.init())
        #expect(all.map(\.eventID) == ["e1", "e2", "e3"])
        #expect(all[0].envelope == Array("{\"id\":\"e1\"}\n".utf8) && all[0].message == "422 from the agent" && all[0].id != nil)
        #expect(try await store.deadLetters(.init(route: "fraud")).map(\.eventID) == ["e1", "e3"])
        #expect(try await store.deadLetters(.init(table: "public.inventory")).map(\.eventID) == ["e2"])
        #expect(try await store.deadLetters(.init(since: 150, until: 300)).map(\.eventID) == ["e2"])
        #expect(try await store.deadLetters(.init(limit: 1)).map(\.eventID) == ["e1"])
        let id = try #require(all[1].id)
        #expect(try await store.deadLetters(.init(id: id)).map(\.eventID) == ["e2"])
        #expect(try await store.removeDeadLetter(id: id))
        #expect(try await !store.removeDeadLetter(id: id))
        #expect(try await store.deadLetters(.init()).map(\.eventID) == ["e1", "e3"])
    }

    /// A commit's done events are one row per route's agent and WAL megabyte: lookups find
    /// exactly the events recorded, in any bucket, and nothing between them.
    @Test func doneRunsKnowExactlyTheirEvents() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStateStore(directory: dir)
        // 3,000 events over about 3 MB of WAL, every third one left out, in two commits and
        // for two routes; one commit finishes an old event late (out of order).
        func id(_ i: Int) -> String { EventID.string(lsn: 0x1_0000_0000 + UInt64(i) * 1_000, ordinal: i % 7) }
        let recorded = (0..<3_000).filter { $0 % 3 != 0 }
        let keys = recorded.map { DoneKey(eventID: id($0), route: "fraud", agent: "a") }
        try await store.commit(StateCommit(done: Array(keys[..<1_000])))
        try await store.commit(StateCommit(done: Array(keys[1_000...]) + [DoneKey(eventID: id(1), route: "other", agent: "a"),
                                                                         DoneKey(eventID: "idempotency:k1", route: "fraud", agent: "a")]))
        let asked = (0..<3_000).map { DoneKey(eventID: id($0), route: "fraud", agent: "a") }
            + [DoneKey(eventID: id(2), route: "other", agent: "a"), DoneKey(eventID: id(1), route: "other", agent: "a"),
               DoneKey(eventID: id(1), route: "fraud", agent: "b"), DoneKey(eventID: "idempotency:k1", route: "fraud", agent: "a")]
        let found = try await store.done(among: asked, since: nil)
        #expect(found == Set(keys + [DoneKey(eventID: id(1), route: "other", agent: "a"), DoneKey(eventID: "idempotency:k1", route: "fraud", agent: "a")]))
        #expect(try await store.lastDone(route: "fraud", agent: "a") == id(2_999))
        #expect(try await store.lastDone(route: "other", agent: "a") == id(1))
        #expect(try await store.lastDone(route: "fraud", agent: "b") == nil)
        let rows = try await store.database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM done_runs") }
        #expect(rows! < 12, "a commit is a row per bucket, not per event")
        // Forgetting what lies before the journal's floor takes whole buckets of that route's agent.
        let floor: UInt64 = 0x1_0000_0000 + 2_000_000
        let gone = recorded.filter { UInt64($0) * 1_000 < 1 << 20 }
        #expect(try await store.pruneDone(route: "fraud", agent: "a", before: floor, keysBefore: .max) == gone.count + 1)
        let left = Set(recorded.filter { UInt64($0) * 1_000 >= 1 << 20 }.map { DoneKey(eventID: id($0), route: "fraud", agent: "a") })
        #expect(try await store.done(among: asked, since: nil) == left.union([DoneKey(eventID: id(1), route: "other", agent: "a")]))
    }

    /// Skips of events before the journal's floor fold into counts per route and reason: the
    /// counts stay, the rows go; later skips and other routes' keep their rows.
    @Test func skipRecordsBeforeTheFloorFoldIntoCounts() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteStateStore(directory: dir)
        func skip(_ lsn: UInt64, _ route: String = "fraud", _ reason: Skip.Reason = .rateLimit) -> Skip {
            Skip(eventID: EventID.string(lsn: lsn, ordinal: 0), route: route, table: "public.orders", reason: reason, at: Int64(lsn))
        }
        try await store.commit(StateCommit(skips: [skip(100), skip(200, "fraud", .shed), skip(300), skip(400), skip(100, "other")]))
        let before = try await store.skipCounts(route: nil)
        #expect(before == [SkipCount(route: "fraud", reason: "rate_limit", count: 3, last: 400), SkipCount(route: "fraud", reason: "shed", count: 1, last: 200),
                           SkipCount(route: "other", reason: "rate_limit", count: 1, last: 100)])
        #expect(try await store.pruneSkips(route: "fraud", before: 301) == 3)
        #expect(try await store.skipCounts(route: nil) == before, "folding changes no count")
        #expect(try await store.pruneSkips(route: "fraud", before: 301) == 0)
        try await store.commit(StateCommit(skips: [skip(500)]))
        #expect(try await store.pruneSkips(route: "fraud", before: 1000) == 2)
        #expect(try await store.skipCounts(route: "fraud") == [SkipCount(route: "fraud", reason: "rate_limit", count: 4, last: 500),
                                                               SkipCount(route: "fraud", reason: "shed", count: 1, last: 200)])
        let rows = try await store.database.read { db in try String.fetchAll(db, sql: "SELECT route FROM skips") }
        #expect(rows == ["other"])
    }

    /// A store written by a version with a done row per event opens with those events still done.
    @Test func doneRowsOfAnEarlierVersionMoveToRuns() async throws {
        let dir = directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ids = (0..<50).map { EventID.string(lsn: 0x5000_0000 + UInt64($0) * 4_000, ordinal: 0) }
        do {
            let pool = try DatabasePool(path: dir + "/state.sqlite")
            try SQLiteStateStore.migrator.migrate(pool, upTo: "v4")
            try await pool.write { db in
                for id in ids { try db.execute(sql: "INSERT INTO done VALUES (?, 'fraud', 'a', 7)", arguments: [id]) }
                try db.execute(sql: "INSERT INTO done VALUES ('idempotency:k', 'fraud', 'a', 7)")
            }
        }
        let store = try SQLiteStateStore(directory: dir)
        let keys = ids.map { DoneKey(eventID: $0, route: "fraud", agent: "a") } + [DoneKey(eventID: "idempotency:k", route: "fraud", agent: "a")]
        #expect(try await store.done(among: keys, since: nil) == Set(keys))
        #expect(try await store.lastDone(route: "fraud", agent: "a") == ids.last)
        let left = try await store.database.read { db in try String.fetchAll(db, sql: "SELECT event_id FROM done") }
        #expect(left == ["idempotency:k"])
    }
}
