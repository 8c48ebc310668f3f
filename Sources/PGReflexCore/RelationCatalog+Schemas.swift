public import PGReflexSchema
public import PGReflexTransport
public import PGReflexWire

/// Table schemas for the registry, read from the same catalog session.
extension RelationCatalog {
    /// The given tables, or every ordinary and partitioned table outside the system schemas.
    /// A named table that does not exist is an error, unless `allowMissing`.
    public func tableSchemas(_ tables: [TableName] = [], allowMissing: Bool = false) async throws -> [TableSchema] {
        let filter: String
        if tables.isEmpty {
            filter = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'"
        } else {
            var names: [String] = []
            for table in tables {
                names.append("(\(try await connection.quoteLiteral(table.schema)), \(try await connection.quoteLiteral(table.name)))")
            }
            filter = "(n.nspname, c.relname) IN (\(names.joined(separator: ", ")))"
        }
        // \x1f separates labels and key columns (names may hold commas).
        let rows = try await connection.execute("""
            SELECT n.nspname, c.relname, c.relreplident, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
                   a.atttypmod, a.attnotnull, a.atthasdef,
                   (SELECT string_agg(e.enumlabel, E'\\x1f' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = a.atttypid),
                   (SELECT string_agg(k.attname, E'\\x1f' ORDER BY array_position(i.indkey::int2[], k.attnum))
                      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = ANY (i.indkey)
                     WHERE i.indrelid = c.oid AND i.indisprimary)
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p') AND \(filter)
            ORDER BY n.nspname, c.relname, a.attnum
            """)
        var schemas: [TableSchema] = []
        for row in rows {
            guard let schema = row[0], let table = row[1], let name = row[3], let type = row[4] else { continue }
            if schemas.last?.schema != schema || schemas.last?.table != table {
                let identity = ["d": "default", "f": "full", "i": "index", "n": "nothing"][row[2] ?? "d"] ?? "default"
                schemas.append(TableSchema(schema: schema, table: table, columns: [],
                                           primaryKey: row[9].map { $0.split(separator: "\u{1F}").map(String.init) } ?? [],
                                           replicaIdentity: identity))
            }
            schemas[schemas.count - 1].columns.append(TableSchema.Column(
                name: name, position: schemas[schemas.count - 1].columns.count + 1, type: type, typmod: Int32(row[5] ?? "-1") ?? -1,
                nullable: row[6] != "t", hasDefault: row[7] == "t",
                enumLabels: row[8].map { $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init) }))
        }
        for table in tables where !allowMissing && !schemas.contains(where: { $0.schema == table.schema && $0.table == table.name }) {
            throw ReplicationError(code: .tableNotFound, message: "table \(table.schema).\(table.name) does not exist")
        }
        return schemas
    }
}

extension RelationCatalog {
    /// The schema of a relation as a Relation message describes it. Names, types and typmods
    /// come from the message; nullability, defaults, enum labels and the key from the current
    /// catalog, for the columns that still match it (the catalog may already be ahead of the
    /// stream: a column it no longer has counts as nullable, without a default).
    public func tableSchema(for relation: PgOutputMessage.Relation) async throws -> TableSchema {
        let table = TableName(schema: relation.namespace, name: relation.name)
        // The table may be gone by now (dropped after these changes were written): the stream goes on.
        let current = try await tableSchemas([table], allowMissing: true).first
        let values = relation.columns.enumerated().map { "(\($0.offset), \($0.element.typeOID)::oid, \($0.element.typeModifier))" }
        let types = values.isEmpty ? [] : try await connection.execute(
            "SELECT pg_catalog.format_type(x.oid, x.typmod) FROM (VALUES \(values.joined(separator: ", "))) x(n, oid, typmod) ORDER BY x.n")
        var columns: [TableSchema.Column] = []
        for (index, column) in relation.columns.enumerated() {
            let type = types[index].first.flatMap { $0 } ?? "oid \(column.typeOID)"
            var schemaColumn = TableSchema.Column(name: column.name, position: index + 1, type: type, typmod: column.typeModifier)
            if let known = current?.column(named: column.name), known.type == type {
                schemaColumn.nullable = known.nullable
                schemaColumn.hasDefault = known.hasDefault
                schemaColumn.enumLabels = known.enumLabels
            }
            columns.append(schemaColumn)
        }
        let identity: String = switch relation.replicaIdentity {
        case .default: "default"
        case .full: "full"
        case .index: "index"
        case .nothing: "nothing"
        }
        let names = Set(columns.map(\.name))
        return TableSchema(schema: relation.namespace, table: relation.name, columns: columns,
                           primaryKey: (current?.primaryKey ?? []).filter { names.contains($0) }, replicaIdentity: identity)
    }
}
