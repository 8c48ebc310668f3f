public import PGReflexWire
import Logging
extension PostgresConnection {
    public struct PublicationInfo: Sendable, Equatable {
        public var name: String
        public var allTables: Bool
        public var tables: Set<TableName>
    }

    public func publication(named name: String) throws(PostgresError) -> PublicationInfo? {
        let literal = try quoteLiteral(name)
        let rows = try execute("SELECT puballtables FROM pg_catalog.pg_publication WHERE pubname = \(literal)")
        guard let row = rows.first else { return nil }
        let tables = try execute("SELECT schemaname, tablename FROM pg_catalog.pg_publication_tables WHERE pubname = \(literal)")
        return PublicationInfo(
            name: name, allTables: row[0] == "t",
            tables: Set(tables.compactMap { r in r[0].flatMap { s in r[1].map { TableName(schema: s, name: $0) } } }))
    }

    /// The tables among `tables` that do not exist as ordinary or partitioned tables.
    public func missingTables(_ tables: [TableName]) throws(PostgresError) -> [TableName] {
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

    /// What `name` needs so that it publishes `tables`; changes nothing.
    ///
    /// Without `create`, anything missing is an error that says how to fix it. With `create`
    /// the publication is to be created (or the missing tables added). It publishes FOR ALL
    /// TABLES only when `allTables` asks for it.
    public func planPublication(
        _ name: String, tables: [TableName], create: Bool, allTables: Bool = false, hints: SetupHints
    ) throws(PostgresError) -> PublicationChange {
        let identifier = try quoteIdentifier(name)
        guard let existing = try publication(named: name) else {
            guard create else {
                let suggestion = tables.isEmpty ? "FOR TABLE <schema.table>, …" : "FOR TABLE \(try quoted(tables))"
                throw PostgresError(
                    code: .publicationMissing,
                    message: "publication \"\(name)\" does not exist. Create it (CREATE PUBLICATION \(identifier) "
                        + "\(suggestion);) or \(hints.createPublication)")
            }
            if !allTables && tables.isEmpty {
                throw PostgresError(
                    code: .publicationMissing,
                    message: "publication \"\(name)\" does not exist and no tables were named to create it with. "
                        + "Name them with \(hints.tables) (schema.table,…), or publish every table")
            }
            return .create(tables: tables, allTables: allTables)
        }
        if existing.allTables { return .none }
        let lacking = tables.filter { !existing.tables.contains($0) }
        if lacking.isEmpty { return .none }
        guard create else {
            throw PostgresError(
                code: .publicationLacksTable,
                message: "publication \"\(name)\" does not include \(lacking.map(\.description).joined(separator: ", ")). "
                    + "Add it (ALTER PUBLICATION \(identifier) ADD TABLE \(try quoted(lacking));) "
                    + "or \(hints.createPublication)")
        }
        return .add(lacking)
    }

    /// Carries out a planned change.
    public func apply(_ change: PublicationChange, to name: String) throws(PostgresError) {
        let identifier = try quoteIdentifier(name)
        // A refused statement names the privilege it lacks, not the replication one.
        func run(_ statement: String, tables: [TableName]) throws(PostgresError) {
            do {
                try execute(statement)
            } catch where error.code == .missingReplicationPrivilege {
                throw PostgresError.publicationPrivilege(error, publication: name, statement: statement, tables: tables)
            }
        }
        switch change {
        case .none:
            return
        case .create(_, allTables: true):
            try run("CREATE PUBLICATION \(identifier) FOR ALL TABLES", tables: [])
            logger.info("created publication", metadata: ["replication.publication": "\(name)"])
        case .create(let tables, allTables: false):
            try run("CREATE PUBLICATION \(identifier) FOR TABLE \(try quoted(tables))", tables: tables)
            logger.info("created publication", metadata: ["replication.publication": "\(name)"])
        case .add(let tables):
            try run("ALTER PUBLICATION \(identifier) ADD TABLE \(try quoted(tables))", tables: tables)
            logger.info("added tables to publication", metadata: ["replication.publication": "\(name)",
                                                                 "replication.tables": "\(tables.count)"])
        }
    }

    /// Takes back a change `apply` made, when what came after it failed.
    public func undo(_ change: PublicationChange, to name: String) throws(PostgresError) {
        let identifier = try quoteIdentifier(name)
        switch change {
        case .none:
            return
        case .create:
            try execute("DROP PUBLICATION IF EXISTS \(identifier)")
            logger.info("dropped the publication this start created", metadata: ["replication.publication": "\(name)"])
        case .add(let tables):
            try execute("ALTER PUBLICATION \(identifier) DROP TABLE \(try quoted(tables))")
            logger.info("removed the tables this start added to the publication", metadata: ["replication.publication": "\(name)"])
        }
    }

    private func quoted(_ tables: [TableName]) throws(PostgresError) -> String {
        var list: [String] = []
        for t in tables { list.append("\(try quoteIdentifier(t.schema)).\(try quoteIdentifier(t.name))") }
        return list.joined(separator: ", ")
    }
}
