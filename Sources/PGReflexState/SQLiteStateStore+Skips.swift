import GRDB
import PGReflexWire

/// Skipped events. Each is a row of `skips` (which event, why, when) while the journal still
/// holds it: the events a rate limit or shedding passed over can be found and replayed. Once
/// the journal no longer holds an event no replay can reach it, and its row folds into
/// `skip_totals`, a count per route and reason: the counts `route status` shows never shrink,
/// and the table grows with the journal's retention, not with the route's history.
extension SQLiteStateStore {
    static func registerSkipTotals(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6") { db in
            try db.create(table: "skip_totals") { t in
                t.column("route", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("count", .integer).notNull()
                t.column("last", .integer).notNull()
                t.primaryKey(["route", "reason"])
            }
            try db.create(index: "skips_event", on: "skips", columns: ["route", "event_id"])
        }
    }

    public func skipCounts(route: String?) async throws -> [SkipCount] {
        try await database.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT route, reason, sum(n) AS n, max(last) AS last FROM (
                    SELECT route, reason, count AS n, last FROM skip_totals
                    UNION ALL SELECT route, reason, count(*), max(at) FROM skips GROUP BY route, reason)
                WHERE ? IS NULL OR route = ? GROUP BY route, reason ORDER BY route, reason
                """, arguments: [route, route])
            return rows.map { SkipCount(route: $0["route"], reason: $0["reason"], count: $0["n"], last: $0["last"]) }
        }
    }

    public func pruneSkips(route: String, before commitLSN: UInt64) async throws -> Int {
        // Event ids are the commit LSN in fixed-width hex first, so they sort in commit order.
        let floor = EventID.string(lsn: commitLSN, ordinal: 0)
        return try await database.write { db in
            try db.execute(sql: """
                INSERT INTO skip_totals (route, reason, count, last)
                    SELECT route, reason, count(*), max(at) FROM skips WHERE route = ? AND event_id < ? GROUP BY route, reason
                ON CONFLICT (route, reason) DO UPDATE SET count = count + excluded.count, last = max(last, excluded.last)
                """, arguments: [route, floor])
            try db.execute(sql: "DELETE FROM skips WHERE route = ? AND event_id < ?", arguments: [route, floor])
            let folded = db.changesCount
            try Self.pruneTraces(route: route, before: commitLSN, db)
            return folded
        }
    }
}
