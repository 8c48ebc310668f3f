import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// The state store in an embedded SQLite database (`state.directory/state.sqlite`, WAL mode,
/// synchronous FULL): done records, route cursors and the dead-letter queue.
public final class SQLiteStateStore: StateStore {
    public let path: String
    let database: DatabasePool

    /// The database's file in the state directory.
    static let fileName = "state.sqlite"

    /// Opens (creating it, and its directory, if need be) and migrates the database.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        path = directory + "/" + Self.fileName
        var configuration = Configuration()
        // `run` and the commands (`snapshot`, `dlq`, `status`) open it at once: wait out a lock.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // Durable at commit: a crash never takes back an outcome or a cursor.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        // GRDB's migrator is safe between connections of one process, not between processes
        // (`run` and a command starting at once would both apply a migration), and SQLite does
        // not wait out the lock that turning a new file to WAL takes (`database is locked`
        // while executing `PRAGMA journal_mode = WAL`): both happen under a file lock.
        let lock = open(directory + "/state.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: directory + "/state.lock"]) }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        // A pool is in WAL mode: readers (`dlq list`) never wait for the dispatcher's writes.
        database = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
    }

    /// The store in `directory`, or nil when there is none: commands that report on the store
    /// (`status`, `dlq`, `results`, `route status`, `snapshot status`) never create it.
    public static func openExisting(directory: String) throws -> SQLiteStateStore? {
        guard FileManager.default.fileExists(atPath: directory + "/" + fileName) else { return nil }
        return try SQLiteStateStore(directory: directory)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "done") { t in
                t.column("event_id", .text).notNull()
                t.column("route", .text).notNull()
                t.column("agent", .text).notNull()
                t.column("at", .integer).notNull()
                t.primaryKey(["event_id", "route", "agent"])
            }
            try db.create(index: "done_at", on: "done", columns: ["at"])
            try db.create(table: "cursors") { t in
                t.primaryKey("consumer", .text)
                t.column("commit_lsn", .integer).notNull()
                t.column("ordinal", .integer).notNull()
            }
            try db.create(table: "dead_letters") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("event_id", .text).notNull()
                t.column("route", .text).notNull()
                t.column("agent", .text).notNull()
                t.column("table_name", .text).notNull()
                t.column("envelope", .blob).notNull()
                t.column("error_class", .text).notNull()
                t.column("message", .text).notNull()
                t.column("attempts", .integer).notNull()
                t.column("first_attempt", .integer).notNull()
                t.column("last_attempt", .integer).notNull()
            }
            try db.create(index: "dead_letters_route", on: "dead_letters", columns: ["route", "last_attempt"])
        }
        migrator.registerMigration("v2") { db in
            try db.alter(table: "cursors") { t in t.add(column: "agent_mark", .integer) }
            // lastDone: the newest done event of a route's agent without a scan.
            try db.create(index: "done_route", on: "done", columns: ["route", "agent", "event_id"])
            try db.create(table: "skips") { t in
                t.column("event_id", .text).notNull()
                t.column("route", .text).notNull()
                t.column("table_name", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("at", .integer).notNull()
            }
            try db.create(index: "skips_route", on: "skips", columns: ["route", "reason"])
            try db.create(table: "window_entries") { t in
                t.column("route", .text).notNull()
                t.column("key", .text).notNull()
                t.column("event_id", .text).notNull()
                t.column("table_name", .text).notNull()
                t.column("op", .text).notNull()
                t.column("at", .integer).notNull()
                t.column("envelope", .blob).notNull()
                t.primaryKey(["event_id", "route"])
            }
        }
        migrator.registerMigration("v3") { db in
            try db.create(table: "results") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("route", .text).notNull()
                t.column("agent", .text).notNull()
                t.column("event_id", .text).notNull()
                t.column("event_count", .integer).notNull()
                t.column("idempotency_key", .text).notNull()
                t.column("attempt", .integer).notNull()
                t.column("output", .blob).notNull()
                t.column("at", .integer).notNull()
                t.column("duration_us", .integer).notNull()
            }
            try db.create(index: "results_event", on: "results", columns: ["event_id"])
            try db.create(index: "results_route", on: "results", columns: ["route", "at"])
        }
        migrator.registerMigration("v4") { db in
            try db.create(table: "snapshots") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("kind", .text).notNull()
                t.column("state", .text).notNull()
                t.column("tables", .text).notNull()
                t.column("condition", .text)
                t.column("chunk_size", .integer).notNull()
                t.column("route", .text)
                t.column("max_rows_per_second", .integer)
                t.column("progress", .text).notNull()
                t.column("created_at", .integer).notNull()
                t.column("updated_at", .integer).notNull()
                t.column("error", .text)
            }
        }
        registerDoneRuns(&migrator)
        registerSkipTotals(&migrator)
        registerOneLetterPerEvent(&migrator)
        registerTraces(&migrator)
        registerDecisions(&migrator)
        return migrator
    }

    public func commit(_ changes: StateCommit) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1e6)
        try await database.write { db in
            // Cached statements: a route commits thousands of rows at a time, and parsing each
            // statement again cost more than the insert.
            try Self.insertDone(changes.done, at: now, db)
            for letter in changes.deadLetters {
                // One letter per event and route: a second is ignored (see v7).
                try db.cachedStatement(sql: """
                    INSERT OR IGNORE INTO dead_letters (event_id, route, agent, table_name, envelope, error_class, message, attempts, first_attempt, last_attempt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [letter.eventID, letter.route, letter.agent, letter.table, Data(letter.envelope), letter.errorClass,
                                     letter.message, letter.attempts, letter.firstAttempt, letter.lastAttempt])
            }
            for skip in changes.skips {
                try db.cachedStatement(sql: "INSERT INTO skips (event_id, route, table_name, reason, at) VALUES (?, ?, ?, ?, ?)")
                    .execute(arguments: [skip.eventID, skip.route, skip.table, skip.reason.rawValue, skip.at])
            }
            for entry in changes.windowAdded {
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO window_entries (route, key, event_id, table_name, op, at, envelope) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [entry.route, entry.key, entry.eventID, entry.table, entry.op, entry.at, Data(entry.envelope)])
            }
            for entry in changes.windowRemoved {
                try db.cachedStatement(sql: "DELETE FROM window_entries WHERE event_id = ? AND route = ?")
                    .execute(arguments: [entry.eventID, entry.route])
            }
            for result in changes.results {
                try db.cachedStatement(sql: """
                    INSERT INTO results (route, agent, event_id, event_count, idempotency_key, attempt, output, at, duration_us)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [result.route, result.agent, result.eventID, result.eventCount, result.idempotencyKey,
                                     result.attempt, Data(result.output), result.at, result.durationMicros])
            }
            try Self.insertTraces(changes.traces, done: changes.done, at: now, db)
            for id in changes.removedDeadLetters {
                try db.cachedStatement(sql: "DELETE FROM dead_letters WHERE id = ?").execute(arguments: [id])
            }
            if let cursor = changes.cursor {
                try db.cachedStatement(sql: """
                    INSERT INTO cursors (consumer, commit_lsn, ordinal, agent_mark) VALUES (?, ?, ?, ?)
                    ON CONFLICT (consumer) DO UPDATE SET commit_lsn = excluded.commit_lsn, ordinal = excluded.ordinal,
                        agent_mark = excluded.agent_mark
                    """).execute(arguments: [cursor.consumer, Int64(bitPattern: cursor.commitLSN), cursor.ordinal, cursor.agentMark])
            }
        }
    }

    public func windowEntries(route: String) async throws -> [WindowEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM window_entries WHERE route = ? ORDER BY event_id", arguments: [route]).map { row in
                let envelope: Data = row["envelope"]
                return WindowEntry(route: row["route"], key: row["key"], eventID: row["event_id"], table: row["table_name"], op: row["op"],
                                   at: row["at"], envelope: [UInt8](envelope))
            }
        }
    }

    public func deadLetterCounts() async throws -> [String: Int] {
        try await database.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT route, count(*) AS n FROM dead_letters GROUP BY route")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["route"], $0["n"]) })
        }
    }

    public func cursor(_ consumer: String) async throws -> StoredCursor? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT commit_lsn, ordinal, agent_mark FROM cursors WHERE consumer = ?", arguments: [consumer]).map { row in
                StoredCursor(consumer: consumer, commitLSN: UInt64(bitPattern: row["commit_lsn"]), ordinal: row["ordinal"],
                             agentMark: row["agent_mark"])
            }
        }
    }

    public func deadLetters(_ filter: DeadLetterFilter) async throws -> [DeadLetter] {
        try await select("dead_letters", [("id = ?", filter.id), ("route = ?", filter.route), ("agent = ?", filter.agent),
                                          ("table_name = ?", filter.table), ("event_id = ?", filter.eventID), ("last_attempt >= ?", filter.since), ("last_attempt < ?", filter.until)],
                         limit: filter.limit, newestFirst: filter.newestFirst, Self.deadLetter)
    }

    public func results(_ filter: AgentResultFilter) async throws -> [AgentResult] {
        try await select("results", [("id = ?", filter.id), ("route = ?", filter.route), ("agent = ?", filter.agent),
                                     ("event_id = ?", filter.eventID), ("at >= ?", filter.since), ("at < ?", filter.until)],
                         limit: filter.limit) { row in
            let output: Data = row["output"] ?? Data()
            return AgentResult(id: row["id"], route: row["route"], agent: row["agent"], eventID: row["event_id"],
                               eventCount: row["event_count"], idempotencyKey: row["idempotency_key"], attempt: row["attempt"],
                               output: [UInt8](output), at: row["at"], durationMicros: row["duration_us"])
        }
    }

    /// Rows of `table` matching the filters that have a value (nil filters match everything),
    /// oldest first (or newest first).
    private func select<T: Sendable>(_ table: String, _ filters: [(sql: String, value: (any DatabaseValueConvertible & Sendable)?)], limit: Int?,
                                     newestFirst: Bool = false, _ map: @escaping @Sendable (Row) -> T) async throws -> [T] {
        var conditions: [String] = []
        var arguments = StatementArguments()
        for (sql, value) in filters {
            guard let value else { continue }
            conditions.append(sql)
            arguments += [value]
        }
        var sql = "SELECT * FROM \(table)"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += newestFirst ? " ORDER BY id DESC" : " ORDER BY id"
        if let limit { sql += " LIMIT \(limit)" }
        let query = sql
        let values = arguments
        return try await database.read { db in
            try Row.fetchAll(db, sql: query, arguments: values).map(map)
        }
    }

    private static func deadLetter(_ row: Row) -> DeadLetter {
        let envelope: Data = row["envelope"] ?? Data()
        let id: Int64 = row["id"]
        let eventID: String = row["event_id"]
        let route: String = row["route"]
        let agent: String = row["agent"]
        let table: String = row["table_name"]
        let errorClass: String = row["error_class"]
        let message: String = row["message"]
        let attempts: Int = row["attempts"]
        let first: Int64 = row["first_attempt"]
        let last: Int64 = row["last_attempt"]
        return DeadLetter(id: id, eventID: eventID, route: route, agent: agent, table: table, envelope: [UInt8](envelope),
                          errorClass: errorClass, message: message, attempts: attempts, firstAttempt: first, lastAttempt: last)
    }

    public func removeDeadLetter(id: Int64) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM dead_letters WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }
}
