/// How much WAL a slot holds back, and whether the server still has it.
public struct SlotHealth: Sendable, Equatable {
    /// `reserved`, `extended`, `unreserved` or `lost`.
    public var walStatus: String?
    /// Bytes of WAL between the slot's restart LSN and the server's current insert position.
    public var retainedBytes: Int64?
    /// What can still be written before the slot is at risk (`max_slot_wal_keep_size`), when limited.
    public var safeBytes: Int64?

    public init(walStatus: String?, retainedBytes: Int64?, safeBytes: Int64?) {
        self.walStatus = walStatus
        self.retainedBytes = retainedBytes
        self.safeBytes = safeBytes
    }
}

extension PostgresConnection {
    /// The slot's retained WAL and status (an ordinary session; nil when there is no such slot).
    public func slotHealth(named name: String) throws(PostgresError) -> SlotHealth? {
        let rows = try execute("""
            SELECT wal_status, pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint, safe_wal_size
            FROM pg_catalog.pg_replication_slots WHERE slot_name = \(try quoteLiteral(name))
            """)
        guard let r = rows.first else { return nil }
        return SlotHealth(walStatus: r[0], retainedBytes: r[1].flatMap { Int64($0) }, safeBytes: r[2].flatMap { Int64($0) })
    }

    /// Writes a non-transactional logical message that every logical slot of this database
    /// decodes: a slot whose tables are idle then still has a position to confirm, so WAL
    /// written by other tables or databases is not retained for ever.
    public func emitHeartbeat(prefix: String) throws(PostgresError) {
        _ = try execute("SELECT pg_catalog.pg_logical_emit_message(false, \(try quoteLiteral(prefix)), pg_catalog.now()::text)")
    }
}
