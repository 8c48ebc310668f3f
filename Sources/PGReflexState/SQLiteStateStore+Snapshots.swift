import Foundation
import GRDB
public import PGReflexSnapshot

/// Snapshots in the `snapshots` table: `run` saves progress as chunks become durable, the
/// `pgreflex snapshot` commands change states, each in its own transaction.
extension SQLiteStateStore: SnapshotStore {
    public func createSnapshot(_ job: SnapshotJob) async throws -> SnapshotJob {
        let now = Self.now()
        return try await database.write { db in
            var job = job
            job.createdAt = now
            job.updatedAt = now
            try db.execute(sql: """
                INSERT INTO snapshots (kind, state, tables, condition, chunk_size, route, max_rows_per_second, progress, created_at, updated_at, error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [job.kind.rawValue, job.state.rawValue, try Self.json(job.tables), job.condition, job.chunkSize, job.route,
                                 job.maxRowsPerSecond, try Self.json(job.progress), now, now, job.error])
            job.id = db.lastInsertedRowID
            return job
        }
    }

    public func snapshots() async throws -> [SnapshotJob] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM snapshots ORDER BY id").map { row in
                var job = SnapshotJob(
                    id: row["id"], kind: SnapshotJob.Kind(rawValue: row["kind"]) ?? .incremental,
                    state: SnapshotJob.State(rawValue: row["state"]) ?? .failed,
                    tables: try JSONDecoder().decode([String].self, from: Data((row["tables"] as String).utf8)),
                    condition: row["condition"], chunkSize: row["chunk_size"], route: row["route"], maxRowsPerSecond: row["max_rows_per_second"],
                    progress: try JSONDecoder().decode(SnapshotProgress.self, from: Data((row["progress"] as String).utf8)),
                    createdAt: row["created_at"], error: row["error"])
                job.updatedAt = row["updated_at"]
                return job
            }
        }
    }

    public func saveSnapshotProgress(id: Int64, _ progress: SnapshotProgress) async throws {
        let encoded = try Self.json(progress)
        let now = Self.now()
        try await database.write { db in
            try db.execute(sql: "UPDATE snapshots SET progress = ?, updated_at = ? WHERE id = ?", arguments: [encoded, now, id])
        }
    }

    @discardableResult
    public func transitionSnapshot(id: Int64, from: Set<SnapshotJob.State>, to state: SnapshotJob.State, error: String?) async throws -> Bool {
        let now = Self.now()
        let states = from.map(\.rawValue)
        return try await database.write { db in
            try db.execute(sql: "UPDATE snapshots SET state = ?, error = coalesce(?, error), updated_at = ? WHERE id = ? AND state IN (\(databaseQuestionMarks(count: states.count)))",
                           arguments: [state.rawValue, error, now, id] + StatementArguments(states))
            return db.changesCount > 0
        }
    }

    private static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e6) }
}
