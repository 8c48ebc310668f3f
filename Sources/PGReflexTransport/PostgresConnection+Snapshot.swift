import CLibPQ
public import PGReflexWire

/// A snapshot transaction's visibility, from `pg_current_snapshot()`: which transactions its
/// reads could not see. Transaction ids are 32-bit, as pgoutput's Begin carries them.
public struct TransactionSnapshot: Sendable, Equatable {
    /// Transactions at or after `xmax` had not started.
    public var xmax: UInt64
    /// Transactions in progress when the snapshot was taken.
    public var inProgress: Set<UInt32>

    public init(xmax: UInt64, inProgress: Set<UInt32>) {
        self.xmax = xmax
        self.inProgress = inProgress
    }

    /// `xmin:xmax:xip,…` (64-bit ids with their epoch).
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmax = UInt64(parts[1]) else { return nil }
        var running = Set<UInt32>()
        for id in parts[2].split(separator: ",") {
            guard let full = UInt64(id) else { return nil }
            running.insert(UInt32(truncatingIfNeeded: full))
        }
        self.init(xmax: xmax, inProgress: running)
    }
}

/// What a snapshot read needs to know about a table: the Relation pgoutput would send for it,
/// and its primary key.
public struct SnapshotTable: Sendable {
    public var relation: PgOutputMessage.Relation
    /// Primary key columns, in key order; empty when the table has none.
    public var primaryKey: [String]
    /// The table's size in pages (for ctid ranges) when it was looked up.
    public var pages: Int
    /// Rows per page, estimated by the planner's statistics (at least 1).
    public var rowsPerPage: Int
}

extension PostgresConnection {
    /// Looks a table up as pgoutput would describe it: columns in order, generated ones left
    /// out, key flags following the replica identity. nil when it does not exist.
    public func snapshotTable(_ table: TableName) throws(PostgresError) -> SnapshotTable? {
        let rows = try query("""
            SELECT c.oid, c.relreplident, a.attname, a.atttypid, a.atttypmod,
                   CASE c.relreplident
                     WHEN 'f' THEN true
                     WHEN 'd' THEN EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey))
                     WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident AND a.attnum = ANY (i.indkey))
                     ELSE false END,
                   (SELECT string_agg(k.attname, E'\\x1f' ORDER BY array_position(i.indkey::int2[], k.attnum))
                      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = ANY (i.indkey)
                     WHERE i.indrelid = c.oid AND i.indisprimary),
                   greatest(pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int, 0),
                   CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN greatest(ceil(c.reltuples / c.relpages)::int, 1) ELSE 50 END
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
            ORDER BY a.attnum
            """, parameters: [table.schema, table.name]).rows
        guard let first = rows.first, let oid = first[0].flatMap({ UInt32($0) }) else { return nil }
        let identity = PgOutputMessage.Relation.ReplicaIdentity(rawValue: first[1]?.utf8.first ?? 0x64) ?? .default
        let columns = rows.map { row in
            PgOutputMessage.Relation.Column(flags: row[5] == "t" ? 1 : 0, name: row[2] ?? "", typeOID: row[3].flatMap { UInt32($0) } ?? 0,
                                            typeModifier: row[4].flatMap { Int32($0) } ?? -1)
        }
        let key = first[6].map { $0.split(separator: "\u{1f}").map(String.init) } ?? []
        return SnapshotTable(
            relation: PgOutputMessage.Relation(xid: nil, oid: oid, namespace: table.schema, name: table.name, replicaIdentity: identity,
                                               columns: columns),
            primaryKey: key, pages: first[7].flatMap { Int($0) } ?? 0, rowsPerPage: first[8].flatMap { Int($0) } ?? 50)
    }

    /// Runs a read and returns its rows as tuples in the text form pgoutput uses, so a
    /// snapshot row is encoded exactly as a streamed one.
    public func readTuples(_ sql: String, parameters: [String?]) throws(PostgresError) -> [TupleData] {
        let pg = try connection()
        guard let result = pg.execute(sql, parameters: parameters) else {
            throw PostgresError.classifyLost(pg.errorMessage)
        }
        guard result.status == PGRES_TUPLES_OK else {
            throw PostgresError.classifyServer(sqlState: result.sqlState, message: result.primaryMessage ?? pg.errorMessage)
        }
        var tuples: [TupleData] = []
        tuples.reserveCapacity(result.rowCount)
        let columnCount = result.columnCount
        for row in 0..<result.rowCount {
            var storage: [UInt8] = []
            var columns: [TupleData.Column] = []
            columns.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result.handle, Int32(row), Int32(column)) != 0 {
                    columns.append(.null)
                    continue
                }
                let length = Int(PQgetlength(result.handle, Int32(row), Int32(column)))
                let start = storage.count
                if let value = PQgetvalue(result.handle, Int32(row), Int32(column)) {
                    value.withMemoryRebound(to: UInt8.self, capacity: length) { storage.append(contentsOf: UnsafeBufferPointer(start: $0, count: length)) }
                }
                columns.append(.text(start..<storage.count))
            }
            tuples.append(TupleData(storage: storage, columns: columns))
        }
        return tuples
    }

    /// Writes a transactional logical message in a transaction of its own and returns its LSN.
    /// Its commit flushes the WAL, so the walsender sends it at once (a non-transactional
    /// message waits for the WAL writer, up to wal_writer_delay, before PostgreSQL 17).
    public func emitMessage(prefix: String, content: String) throws(PostgresError) -> LSN {
        let row = try query("SELECT pg_catalog.pg_logical_emit_message(true, $1, $2)::text", parameters: [prefix, content]).rows.first
        guard let text = row?.first ?? nil, let lsn = LSN(text) else {
            throw PostgresError(code: .protocolViolation, message: "pg_logical_emit_message returned no LSN")
        }
        return lsn
    }

    /// The current transaction's snapshot (the first statement of a REPEATABLE READ transaction fixes it).
    public func currentSnapshot() throws(PostgresError) -> TransactionSnapshot {
        let text = try execute("SELECT pg_catalog.pg_current_snapshot()::text").first?.first ?? nil
        guard let text, let snapshot = TransactionSnapshot(text) else {
            throw PostgresError(code: .protocolViolation, message: "pg_current_snapshot() returned an unreadable snapshot")
        }
        return snapshot
    }

    /// Begins a REPEATABLE READ, READ ONLY transaction, in the given exported snapshot when one is named.
    public func beginSnapshotRead(importing snapshotName: String? = nil) throws(PostgresError) {
        try execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if let snapshotName {
            try execute("SET TRANSACTION SNAPSHOT \(try quoteLiteral(snapshotName))")
        }
    }

    public func commit() throws(PostgresError) {
        try execute("COMMIT")
    }

    /// Rolls back whatever transaction is open; errors are ignored (the connection may be gone).
    public func rollbackQuietly() {
        _ = try? execute("ROLLBACK")
    }

    /// Whether a table (already quoted) has any row visible to the current transaction.
    public func hasRows(_ qualifiedTable: String) throws(PostgresError) -> Bool {
        try execute("SELECT EXISTS (SELECT 1 FROM \(qualifiedTable))").first?.first == "t"
    }

    /// The tables a publication publishes, in name order.
    public func publicationTables(_ publication: String) throws(PostgresError) -> [TableName] {
        try query("SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2",
                  parameters: [publication]).rows.compactMap { row in
            guard let schema = row[0], let name = row[1] else { return nil }
            return TableName(schema: schema, name: name)
        }
    }
}
