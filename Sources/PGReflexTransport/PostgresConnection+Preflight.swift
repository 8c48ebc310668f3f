public import PGReflexWire

/// What starting a stream would change on the server, worked out before anything is changed.
public struct SourcePlan: Sendable, Equatable {
    /// The slot as it is; nil when it is to be created.
    public var slot: SlotInfo?
    public var publication: PublicationChange
}

/// What a publication needs so that it publishes the configured tables.
public enum PublicationChange: Sendable, Equatable {
    case none
    case create(tables: [TableName], allTables: Bool)
    case add([TableName])
}

extension PostgresConnection {
    /// Checks, before anything is created and before START_REPLICATION, everything that would
    /// otherwise fail later or obscurely: wal_level, the tables, the publication (exists,
    /// includes the tables, or may be created) and the slot (exists or may be created, is
    /// pgoutput, is free, still has its WAL). Changes nothing on the server.
    public func planSource(
        slot: String, publication: String, tables: [TableName], createSlot: Bool, createPublication: Bool,
        allTables: Bool = false, hints: SetupHints
    ) throws(PostgresError) -> SourcePlan {
        try requireWalLevelLogical()
        let missing = try missingTables(tables)
        if !missing.isEmpty {
            throw PostgresError(
                code: .tableNotFound,
                message: "no such table: \(missing.map(\.description).joined(separator: ", ")). "
                    + "Create it first, or fix \(hints.tables) (schema.table; the schema defaults to public)")
        }
        let change = try planPublication(publication, tables: tables, create: createPublication, allTables: allTables, hints: hints)
        let info = try self.slot(named: slot)
        if let info {
            try check(info)
        } else if !createSlot {
            throw PostgresError(
                code: .slotNotFound,
                message: "replication slot \"\(slot)\" does not exist. To create it, \(hints.createSlot) "
                    + "(or run `pgreflex slot create`); or name an existing logical slot (SELECT slot_name FROM pg_replication_slots)")
        }
        return SourcePlan(slot: info, publication: change)
    }

    /// An existing slot must be a free, intact pgoutput slot of this database.
    private func check(_ info: SlotInfo) throws(PostgresError) {
        let slot = info.name
        if info.slotType != "logical" || info.plugin != "pgoutput" {
            throw PostgresError(
                code: .slotWrongPlugin,
                message: "replication slot \"\(slot)\" is a \(info.slotType) slot with plugin \(info.plugin ?? "none"); "
                    + "pgreflex needs a logical slot using pgoutput. Name another slot, which pgreflex can create")
        }
        if let database = info.database, database != (try connection().database) {
            throw PostgresError(
                code: .slotWrongPlugin,
                message: "replication slot \"\(slot)\" belongs to database \"\(database)\", not the one connected to. "
                    + "Connect to \(database), or create a slot in this database")
        }
        if info.active {
            throw PostgresError(
                code: .slotInUse,
                message: "replication slot \"\(slot)\" is active for PID \(info.activePID.map(String.init) ?? "?"). "
                    + "Another consumer is streaming from it: stop that consumer "
                    + "(SELECT pg_terminate_backend(\(info.activePID.map(String.init) ?? "pid"))) or use another slot")
        }
        if info.walStatus == "lost" {
            throw PostgresError(
                code: .slotInvalidated,
                message: "replication slot \"\(slot)\" has been invalidated (wal_status = lost): the server removed WAL "
                    + "it still needed. Drop and recreate the slot, then resynchronise downstream")
        }
    }
}
