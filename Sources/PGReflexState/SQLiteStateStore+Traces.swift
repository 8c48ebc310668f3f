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
    static func insertTraces(_ traces: [RouteTrace], done: [DoneKey], at now: Int64, _ db: Database) throws {
        guard !traces.isEmpty else { return }
        struct Run {
            var route: String
            var bucket: Int64
            var lines: [UInt8] = []
        }
        var runs: [Run] = []
        for trace in traces {
            guard let first = trace.doneRange.map({ done[$0.lowerBound].eventID }) ?? trace.events.first else { continue }
            var buckets = [bucket(of: first)]
            // A window's or batch's events may come from more than one bucket (rarely).
            for id in trace.events.dropFirst() where trace.kind == .attempt {
                let other = bucket(of: id)
                if !buckets.contains(other) { buckets.append(other) }
            }
            for bucket in buckets {
                // A route's traces come together and mostly in one bucket: the last run is the one.
                let index: Int
                if let last = runs.indices.last, runs[last].bucket == bucket, runs[last].route == trace.route {
                    index = last
                } else if let found = runs.firstIndex(where: { $0.bucket == bucket && $0.route == trace.route }) {
                    index = found
                } else {
                    runs.append(Run(route: trace.route, bucket: bucket))
                    index = runs.count - 1
                }
                trace.encode(into: &runs[index].lines, done: done)
            }
        }
        let insert = try db.cachedStatement(sql: "INSERT INTO traces (route, bucket, at, lines) VALUES (?, ?, ?, ?)")
        for run in runs { try insert.execute(arguments: [run.route, run.bucket, now, Data(run.lines)]) }
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
                // A row's lines are in the order recorded: newest last. A line of one-event calls
                // alike is a call per event.
                let attempts = RouteTrace.decode(lines, route: route).flatMap { trace -> [RouteTrace] in
                    switch trace.kind {
                    case .attempt: return [trace]
                    case .attempts: return trace.events.map { event in
                        var one = trace
                        one.events = [event]
                        return one
                    }
                    default: return []
                    }
                }
                found += attempts.reversed().prefix(limit - found.count)
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
