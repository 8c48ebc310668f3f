import Foundation
import GRDB
import PGReflexWire

/// Done records. A route finishes thousands of events a second, and a row per event (with its
/// three indexes) made SQLite the route's largest single cost. So the events one commit
/// records for a route's agent are one row of `done_runs` per megabyte of WAL they come from
/// (their bucket): the exact ids, sorted, in one blob. A lookup reads the rows of the keys'
/// buckets only, whatever the history before or after them. Idempotency keys, looked up by
/// age, keep a row each in `done`.
extension SQLiteStateStore {
    /// The WAL span of one bucket, as a shift of the LSN.
    static let doneBucketShift: UInt64 = 20
    /// Ids not of `EventID`'s form (`<16 hex>-<8 hex>`): kept and found, in a bucket of their own.
    static let unbucketed: Int64 = -1
    static let idempotencyPrefix = "idempotency:"

    static func registerDoneRuns(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5") { db in
            try db.create(table: "done_runs") { t in
                t.column("route", .text).notNull()
                t.column("agent", .text).notNull()
                t.column("bucket", .integer).notNull()
                t.column("first_id", .text).notNull()
                t.column("last_id", .text).notNull()
                t.column("count", .integer).notNull()
                t.column("at", .integer).notNull()
                t.column("ids", .blob).notNull()
            }
            try db.create(index: "done_runs_bucket", on: "done_runs", columns: ["route", "agent", "bucket"])
            // Events recorded a row each by earlier versions move to runs; `done` keeps the
            // idempotency keys.
            let rows = try Row.fetchAll(db, sql: "SELECT event_id, route, agent, at FROM done WHERE event_id NOT LIKE 'idempotency:%' ORDER BY at")
            var byAt: [Int64: [DoneKey]] = [:]
            for row in rows { byAt[row["at"], default: []].append(DoneKey(eventID: row["event_id"], route: row["route"], agent: row["agent"])) }
            for (at, keys) in byAt { try insertDone(keys, at: at, db) }
            try db.execute(sql: "DELETE FROM done WHERE event_id NOT LIKE 'idempotency:%'")
            try db.execute(sql: "DROP INDEX done_route")
        }
    }

    /// The bucket of an event id: its commit LSN's megabyte, or `unbucketed`.
    static func bucket(of id: String) -> Int64 {
        var id = id
        return id.withUTF8 { bytes -> Int64 in
            guard bytes.count == 25, bytes[16] == UInt8(ascii: "-") else { return unbucketed }
            var lsn: UInt64 = 0
            for byte in bytes[0..<16] {
                let nibble: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte &- 48
                case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte &- 87
                default: return unbucketed
                }
                lsn = lsn << 4 | UInt64(nibble)
            }
            return Int64(lsn >> doneBucketShift)
        }
    }

    /// Records done keys: events as runs, idempotency keys a row each.
    static func insertDone(_ keys: [DoneKey], at now: Int64, _ db: Database) throws {
        struct Run {
            var route: String
            var agent: String
            var bucket: Int64
            var ids: [String]
        }
        var runs: [Run] = []
        for key in keys {
            if key.eventID.hasPrefix(idempotencyPrefix) {
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO done (event_id, route, agent, at) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [key.eventID, key.route, key.agent, now])
                continue
            }
            let bucket = bucket(of: key.eventID)
            // A route's keys come together and mostly in one bucket: the last run is the one.
            if let last = runs.indices.last, runs[last].bucket == bucket, runs[last].route == key.route, runs[last].agent == key.agent {
                runs[last].ids.append(key.eventID)
            } else if let index = runs.firstIndex(where: { $0.bucket == bucket && $0.route == key.route && $0.agent == key.agent }) {
                runs[index].ids.append(key.eventID)
            } else {
                runs.append(Run(route: key.route, agent: key.agent, bucket: bucket, ids: [key.eventID]))
            }
        }
        guard !runs.isEmpty else { return }
        let insert = try db.cachedStatement(sql: """
            INSERT INTO done_runs (route, agent, bucket, first_id, last_id, count, at, ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for var run in runs {
            run.ids.sort()
            var blob: [UInt8] = []
            blob.reserveCapacity(run.ids.count * 26)
            for id in run.ids {
                if !blob.isEmpty { blob.append(UInt8(ascii: "\n")) }
                blob.append(contentsOf: id.utf8)
            }
            try insert.execute(arguments: [run.route, run.agent, run.bucket, run.ids[0], run.ids[run.ids.count - 1], run.ids.count, now, Data(blob)])
        }
    }

    public func done(among keys: [DoneKey], since: Int64?) async throws -> Set<DoneKey> {
        guard !keys.isEmpty else { return [] }
        return try await database.read { db in
            var found = Set<DoneKey>()
            let idempotency = try db.cachedStatement(sql: "SELECT 1 FROM done WHERE event_id = ? AND route = ? AND agent = ? AND at >= ?")
            var wanted: [DoneKey: Set<String>] = [:]  // (route, agent, bucket) → ids
            var buckets: [DoneKey: Set<Int64>] = [:]  // (route, agent) → buckets
            for key in keys {
                if key.eventID.hasPrefix(Self.idempotencyPrefix) {
                    if try Bool.fetchOne(idempotency, arguments: [key.eventID, key.route, key.agent, since ?? Int64.min]) == true { found.insert(key) }
                    continue
                }
                let owner = DoneKey(eventID: "", route: key.route, agent: key.agent)
                buckets[owner, default: []].insert(Self.bucket(of: key.eventID))
                wanted[owner, default: []].insert(key.eventID)
            }
            let rows = try db.cachedStatement(sql: "SELECT ids FROM done_runs WHERE route = ? AND agent = ? AND bucket = ? AND at >= ?")
            for (owner, ids) in wanted {
                for bucket in buckets[owner]! {
                    let cursor = try Data.fetchCursor(rows, arguments: [owner.route, owner.agent, bucket, since ?? Int64.min])
                    while let blob = try cursor.next() {
                        for id in blob.split(separator: UInt8(ascii: "\n")) {
                            let text = String(decoding: id, as: UTF8.self)
                            if ids.contains(text) { found.insert(DoneKey(eventID: text, route: owner.route, agent: owner.agent)) }
                        }
                    }
                }
            }
            return found
        }
    }

    public func lastDone(route: String, agent: String) async throws -> String? {
        try await database.read { db in
            try String.fetchOne(db, sql: """
                SELECT max(last_id) FROM done_runs WHERE route = ?1 AND agent = ?2
                    AND bucket IN ((SELECT max(bucket) FROM done_runs WHERE route = ?1 AND agent = ?2), ?3)
                """, arguments: [route, agent, Self.unbucketed])
        }
    }

    public func pruneDone(route: String, agent: String, before commitLSN: UInt64, keysBefore: Int64) async throws -> Int {
        // Whole buckets only: a bucket reaching past the floor keeps its runs.
        let floorBucket = Int64(commitLSN >> Self.doneBucketShift)
        return try await database.write { db in
            let events = try Int.fetchOne(db, sql: """
                SELECT coalesce(sum(count), 0) FROM done_runs WHERE route = ? AND agent = ? AND bucket >= 0 AND bucket < ?
                """, arguments: [route, agent, floorBucket]) ?? 0
            try db.execute(sql: "DELETE FROM done_runs WHERE route = ? AND agent = ? AND bucket >= 0 AND bucket < ?", arguments: [route, agent, floorBucket])
            try db.execute(sql: "DELETE FROM done WHERE route = ? AND agent = ? AND at < ?", arguments: [route, agent, keysBefore])
            let keys = db.changesCount
            // Decisions go with their events: a replay of those is no longer possible.
            try db.execute(sql: "DELETE FROM decisions WHERE route = ? AND agent = ? AND event_id < ?",
                           arguments: [route, agent, EventID.string(lsn: commitLSN, ordinal: 0)])
            return events + keys
        }
    }
}
