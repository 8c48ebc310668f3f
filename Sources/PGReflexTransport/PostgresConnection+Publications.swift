import Logging
extension PostgresConnection {
    public struct PublicationInfo: Sendable, Equatable {
        public var name: String
        public var allTables: Bool
        public var tables: Set<TableName>
    }

    public func publication(named name: String) throws(ReplicationError) -> PublicationInfo? {
        let literal = try quoteLiteral(name)
        let rows = try execute("SELECT puballtables FROM pg_catalog.pg_publication WHERE pubname = \(literal)")
        guard let row = rows.first else { return nil }
        let tables = try execute("SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = \(literal)")
        return PublicationInfo(
            name: name, allTables: row[0] == "t",
            tables: Set(tables.compactMap { r in r[0].flatMap { s in r[1].map { TableName(schema: s, name: $0) } } }))
    }

    /// The tables among `tables` that do not exist as ordinary or partitioned tables.
    public func missingTables(_ tables: [TableName]) throws(ReplicationError) -> [TableName] {
        if tables.isEmpty { return [] }
        var list: [String] = []
        for t in tables { list.append("(\(try quoteLiteral(t.schema)), \(try quoteLiteral(t.name)))") }
        let rows = try execute("""
            SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND (n.nspname, c.relname) IN (\(list.joined(separator: ", ")))
            """)
        let found = Set(rows.compactMap { r in r[0].flatMap { s in r[1].map { TableName(schema: s, name: $0) } } })
        return tables.filter { !found.contains($0) }
    }

    /// Makes sure `name` publishes `tables`.
    ///
    /// Without `create` it only checks, and says how to fix what is missing. With `create` it
    /// creates the publication (or adds the missing tables). It publishes FOR ALL TABLES only
    /// when `allTables` asks for it.
    public func ensurePublication(
        _ name: String, tables: [TableName], create: Bool, allTables: Bool = false
    ) throws(ReplicationError) {
        let missing = try missingTables(tables)
        if !missing.isEmpty {
            throw ReplicationError(
                code: .tableNotFound,
                message: "no such table: \(missing.map(\.description).joined(separator: ", ")). "
                    + "Check --tables (schema.table; the schema defaults to public)")
        }
        let identifier = try quoteIdentifier(name)
        var quotedTables: [String] = []
        for t in tables { quotedTables.append("\(try quoteIdentifier(t.schema)).\(try quoteIdentifier(t.name))") }

        guard let existing = try publication(named: name) else {
            guard create else {
                let suggestion = tables.isEmpty ? "FOR TABLE <schema.table>, …" : "FOR TABLE \(quotedTables.joined(separator: ", "))"
                throw ReplicationError(
                    code: .publicationMissing,
                    message: "publication \"\(name)\" does not exist. Create it (CREATE PUBLICATION \(identifier) "
                        + "\(suggestion);) or pass --create-publication")
            }
            if allTables {
                try execute("CREATE PUBLICATION \(identifier) FOR ALL TABLES")
            } else if tables.isEmpty {
                throw ReplicationError(
                    code: .publicationMissing,
                    message: "publication \"\(name)\" does not exist and no tables were named to create it with. "
                        + "Pass --tables schema.table,… (or --all-tables to publish every table)")
            } else {
                try execute("CREATE PUBLICATION \(identifier) FOR TABLE \(quotedTables.joined(separator: ", "))")
            }
            logger.info("created publication", metadata: ["replication.publication": "\(name)"])
            return
        }
        if existing.allTables { return }
        let lacking = tables.filter { !existing.tables.contains($0) }
        if lacking.isEmpty { return }
        var lackingQuoted: [String] = []
        for t in lacking { lackingQuoted.append("\(try quoteIdentifier(t.schema)).\(try quoteIdentifier(t.name))") }
        guard create else {
            throw ReplicationError(
                code: .publicationLacksTable,
                message: "publication \"\(name)\" does not include \(lacking.map(\.description).joined(separator: ", ")). "
                    + "Add it (ALTER PUBLICATION \(identifier) ADD TABLE \(lackingQuoted.joined(separator: ", "));) "
                    + "or pass --create-publication")
        }
        try execute("ALTER PUBLICATION \(identifier) ADD TABLE \(lackingQuoted.joined(separator: ", "))")
        logger.info("added tables to publication", metadata: ["replication.publication": "\(name)",
                                                             "replication.tables": "\(lacking.count)"])
    }
}
