public import Logging
import PGReflexSnapshot
import PGReflexTransport
public import PGReflexWire

/// What `snapshot start` checks against the source before it queues a snapshot.
public enum SnapshotPreflight {
    /// What would stop a snapshot of `tables` once `run` reaches it, checked now against the
    /// source: each table exists and is published, and `condition` is valid SQL on each (tried
    /// in a read-only transaction that reads no row). Nil when nothing would.
    public static func problem(tables: [TableName], condition: String?, publication: String, dsn: String,
                                 logger: Logger) async throws -> String? {
        try await PostgresConnection.withConnection(dsn, mode: .sql, logger: logger) { connection in
            let published = Set(try await connection.publicationTables(publication))
            for name in tables {
                guard try await connection.snapshotTable(name) != nil else {
                    return "table \(name) does not exist in the source database"
                }
                if !published.isEmpty && !published.contains(name) {
                    return "table \(name) is not in publication \(publication): its changes are not streamed. Add it (ALTER PUBLICATION … ADD TABLE)"
                }
                guard let condition else { continue }
                let sql = "SELECT 1 FROM \(ChunkQuery.qualified(schema: name.schema, name: name.name)) WHERE (\(condition)) LIMIT 0"
                try await connection.execute("BEGIN READ ONLY")
                let failure: PostgresError?
                do throws(PostgresError) {
                    _ = try await connection.readTuples(sql, parameters: [])
                    failure = nil
                } catch {
                    failure = error
                }
                await connection.rollbackQuietly()
                if let failure {
                    return "--where does not work on \(name): \(failure.message). Write a SQL condition on its columns, e.g. \"created_at > now() - interval '7 days'\""
                }
            }
            return nil
        }
    }
}
