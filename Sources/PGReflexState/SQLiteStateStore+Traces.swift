import Foundation
import GRDB
import PGReflexWire

/// Route traces (``RouteTrace``): the lines one commit records for a route, one row per
/// megabyte of WAL their events come from (the done records' buckets), so a route pays one
/// insert per commit and a lookup reads its events' buckets only. Rows go once the journal no
/// longer holds their bucket's events, with the route's skips.
extension SQLiteStateStore {
    static func registerTraces(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8") { db in
            try db.create(table: "traces") { t in
                t.column("route", .text).notNull()
                t.column("bucket", .integer).notNull()
                t.column("at", .integer).notNull()
                t.column("lines", .blob).notNull()
            }
            try db.create(index: "traces_bucket", on: "traces", columns: ["bucket", "route"])
            // event show finds an event's skips and dead letters whatever the route.
            try db.create(index: "skips_event_id", on: "skips", columns: ["event_id"])
            try db.create(index: "dead_letters_event_id", on: "dead_letters", columns: ["event_id"])
        }
    }

    /// Inserts a commit's traces: one row per route and bucket. An entry is filed under each
    /// bucket its events come from (a window's events may span two).
    static func insertTraces(_ traces: [RouteTrace], at now: Int64, _ db: Database) throws {
        guard !traces.isEmpty else { return }
        var rows: [String: [Int64: [UInt8]]] = [:]
        for trace in traces {
            var line: [UInt8] = []
            trace.encode(into: &line)
            var buckets: Set<Int64> = []
            for id in trace.events { buckets.insert(bucket(of: id)) }
            for bucket in buckets { rows[trace.route, default: [:]][bucket, default: []] += line }
        }
        let insert = try db.cachedStatement(sql: "INSERT INTO traces (route, bucket, at, lines) VALUES (?, ?, ?, ?)")
        for (route, buckets) in rows {
            for (bucket, lines) in buckets { try insert.execute(arguments: [route, bucket, now, Data(lines)]) }
        }
    }

    public func traces(of eventIDs: [String]) async throws -> [RouteTrace] {
        guard !eventIDs.isEmpty else { return [] }
        let wanted = Set(eventIDs)
        return try await database.read { db in
            var found: [RouteTrace] = []
            for bucket in Set(eventIDs.map(Self.bucket(of:))) {
                let rows = try Row.fetchAll(db, sql: "SELECT route, lines FROM traces WHERE bucket = ? ORDER BY rowid", arguments: [bucket])
                for row in rows {
                    let lines: Data = row["lines"]
                    let route: String = row["route"]
                    for trace in RouteTrace.decode(lines, route: route) where trace.events.contains(where: wanted.contains) {
                        if !found.contains(trace) { found.append(trace) }
                    }
                }
            }
            return found
        }
    }

    public func recentAttempts(route: String, limit: Int) async throws -> [RouteTrace] {
        try await database.read { db in
            var found: [RouteTrace] = []
            let rows = try Data.fetchCursor(db, sql: "SELECT lines FROM traces WHERE route = ? ORDER BY rowid DESC", arguments: [route])
            while found.count < limit, let lines = try rows.next() {
                // A row's lines are in the order recorded: newest last.
                found += RouteTrace.decode(lines, route: route).filter { $0.kind == .attempt }.reversed().prefix(limit - found.count)
            }
            return found
        }
    }

    public func skips(of eventID: String) async throws -> [Skip] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM skips WHERE event_id = ? ORDER BY at", arguments: [eventID]).compactMap { row in
                guard let reason = Skip.Reason(rawValue: row["reason"]) else { return nil }
                return Skip(eventID: row["event_id"], route: row["route"], table: row["table_name"], reason: reason, at: row["at"])
            }
        }
    }

    /// Forgets a route's traces of events committed before `commitLSN` (whole buckets).
    static func pruneTraces(route: String, before commitLSN: UInt64, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM traces WHERE route = ? AND bucket >= 0 AND bucket < ?",
                       arguments: [route, Int64(commitLSN >> doneBucketShift)])
    }
}
