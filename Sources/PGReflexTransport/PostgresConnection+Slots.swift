import Logging
public import PGReflexWire

/// A replication slot as `pg_replication_slots` shows it.
public struct SlotInfo: Sendable, Equatable {
    public var name: String
    public var plugin: String?
    public var slotType: String
    public var database: String?
    public var temporary: Bool
    public var active: Bool
    public var activePID: Int?
    public var restartLSN: LSN?
    public var confirmedFlushLSN: LSN?
    /// `reserved`, `extended`, `unreserved` or `lost`.
    public var walStatus: String?
}

/// What CREATE_REPLICATION_SLOT returned.
public struct CreatedSlot: Sendable, Equatable {
    public var name: String
    /// The first LSN the slot can stream from.
    public var consistentPoint: LSN
    /// With `.export`: a snapshot to `SET TRANSACTION SNAPSHOT` to, valid until this connection's next command.
    public var snapshotName: String?
    public var plugin: String?
}

extension PostgresConnection {
    public enum SnapshotAction: Sendable {
        /// NOEXPORT_SNAPSHOT: no snapshot.
        case nothing
        /// EXPORT_SNAPSHOT: export one, to read the tables as of the slot's start (an initial load).
        case export
    }

    public func slot(named name: String) throws(PostgresError) -> SlotInfo? {
        let rows = try execute("""
            SELECT slot_name, plugin, slot_type, database, temporary, active, active_pid,
                   restart_lsn, confirmed_flush_lsn, wal_status
            FROM pg_catalog.pg_replication_slots WHERE slot_name = \(try quoteLiteral(name))
            """)
        guard let r = rows.first else { return nil }
        return SlotInfo(
            name: r[0] ?? name, plugin: r[1], slotType: r[2] ?? "", database: r[3], temporary: r[4] == "t",
            active: r[5] == "t", activePID: r[6].flatMap { Int($0) }, restartLSN: r[7].flatMap { LSN($0) },
            confirmedFlushLSN: r[8].flatMap { LSN($0) }, walStatus: r[9])
    }

    /// CREATE_REPLICATION_SLOT … LOGICAL pgoutput.
    public func createSlot(
        _ name: String, temporary: Bool = false, snapshot: SnapshotAction = .nothing
    ) throws(PostgresError) -> CreatedSlot {
        try requireWalLevelLogical()
        let command = "CREATE_REPLICATION_SLOT \(try quoteIdentifier(name))\(temporary ? " TEMPORARY" : "") LOGICAL pgoutput "
            + (snapshot == .export ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT")
        let rows = try execute(command)
        guard let r = rows.first, r.count >= 4, let point = r[1].flatMap({ LSN($0) }) else {
            throw PostgresError(code: .protocolViolation, message: "CREATE_REPLICATION_SLOT returned an unexpected row")
        }
        logger.info("created replication slot", metadata: ["replication.slot": "\(name)",
                                                          "replication.consistent_point": "\(point)"])
        return CreatedSlot(name: r[0] ?? name, consistentPoint: point, snapshotName: r[2], plugin: r[3])
    }

    /// DROP_REPLICATION_SLOT; with `wait`, waits for an active consumer to let go first.
    public func dropSlot(_ name: String, wait: Bool = false) throws(PostgresError) {
        try execute("DROP_REPLICATION_SLOT \(try quoteIdentifier(name))\(wait ? " WAIT" : "")")
        logger.info("dropped replication slot", metadata: ["replication.slot": "\(name)"])
    }

    /// Throws `wal_level_not_logical` with the fix when the server cannot decode logically.
    public func requireWalLevelLogical() throws(PostgresError) {
        let level = try setting("wal_level")
        if level != "logical" {
            throw PostgresError.walLevel(current: level)
        }
    }
}
