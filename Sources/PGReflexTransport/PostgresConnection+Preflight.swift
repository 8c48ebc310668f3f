extension PostgresConnection {
    /// Checks, before START_REPLICATION, everything that would otherwise fail later or
    /// obscurely: wal_level, the slot (exists, is pgoutput, is free, still has its WAL) and the
    /// publications (exist, include the tables).
    public func preflight(slot: String, publications: [String], tables: [TableName]) throws(ReplicationError) -> SlotInfo {
        try requireWalLevelLogical()
        guard let info = try self.slot(named: slot) else {
            throw ReplicationError(
                code: .slotNotFound,
                message: "replication slot \"\(slot)\" does not exist. Create it with --create-slot, or name an "
                    + "existing logical slot (SELECT slot_name FROM pg_replication_slots)")
        }
        if info.slotType != "logical" || info.plugin != "pgoutput" {
            throw ReplicationError(
                code: .slotWrongPlugin,
                message: "replication slot \"\(slot)\" is a \(info.slotType) slot with plugin \(info.plugin ?? "none"); "
                    + "pgreflex needs a logical slot using pgoutput. Use another slot name with --create-slot")
        }
        if let database = info.database, database != (try connection().database) {
            throw ReplicationError(
                code: .slotWrongPlugin,
                message: "replication slot \"\(slot)\" belongs to database \"\(database)\", not the one connected to. "
                    + "Connect to \(database), or create a slot in this database")
        }
        if info.active {
            throw ReplicationError(
                code: .slotInUse,
                message: "replication slot \"\(slot)\" is active for PID \(info.activePID.map(String.init) ?? "?"). "
                    + "Another consumer is streaming from it: stop that consumer "
                    + "(SELECT pg_terminate_backend(\(info.activePID.map(String.init) ?? "pid"))) or use another slot")
        }
        if info.walStatus == "lost" {
            throw ReplicationError(
                code: .slotInvalidated,
                message: "replication slot \"\(slot)\" has been invalidated (wal_status = lost): the server removed WAL "
                    + "it still needed. Drop and recreate the slot, then resynchronise downstream")
        }
        for name in publications {
            guard let publication = try publication(named: name) else {
                throw ReplicationError(
                    code: .publicationMissing,
                    message: "publication \"\(name)\" does not exist. Create it (CREATE PUBLICATION \"\(name)\" FOR "
                        + "TABLE …;) or pass --create-publication with --tables")
            }
            let lacking = publication.allTables ? [] : tables.filter { !publication.tables.contains($0) }
            if !lacking.isEmpty {
                throw ReplicationError(
                    code: .publicationLacksTable,
                    message: "publication \"\(name)\" does not include \(lacking.map(\.description).joined(separator: ", ")). "
                        + "Add it (ALTER PUBLICATION \"\(name)\" ADD TABLE …;) or pass --create-publication")
            }
        }
        return info
    }
}
