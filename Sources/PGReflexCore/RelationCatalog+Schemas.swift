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
        // \x1f separates labels and key columns (names may hold commas). Generated columns are
        // left out: pgoutput does not send them (PostgreSQL 15 and earlier), and the registry
        // describes what the stream carries. A default is volatile when it calls a volatile
        // function (clock_timestamp(), nextval(…)): PostgreSQL itself then has no one value for
        // the rows that existed before the column.
        let rows = try await connection.execute("""
            SELECT n.nspname, c.relname, c.relreplident, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
                   a.atttypmod, a.attnotnull, a.atthasdef,
                   (SELECT string_agg(e.enumlabel, E'\\x1f' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = a.atttypid),
                   (SELECT string_agg(k.attname, E'\\x1f' ORDER BY array_position(i.indkey::int2[], k.attnum))
                      FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = ANY (i.indkey)
                     WHERE i.indrelid = c.oid AND i.indisprimary),
                   a.atttypid,
                   EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef d
                           CROSS JOIN LATERAL regexp_matches(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '([A-Za-z_][A-Za-z0-9_]*)\\s*\\(', 'g') AS m(call)
                           JOIN pg_catalog.pg_proc p ON p.proname = m.call[1] AND p.provolatile = 'v'
                           WHERE d.adrelid = c.oid AND d.adnum = a.attnum)
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            WHERE c.relkind IN ('r', 'p') AND \(filter)
            ORDER BY n.nspname, c.relname, a.attnum
            """)
        var schemas: [TableSchema] = []
        var shapes: [UInt32: TypeShape] = [:]
        for row in rows {
            guard let schema = row[0], let table = row[1], let name = row[3], let type = row[4] else { continue }
            if schemas.last?.schema != schema || schemas.last?.table != table {
                let identity = ["d": "default", "f": "full", "i": "index", "n": "nothing"][row[2] ?? "d"] ?? "default"
                schemas.append(TableSchema(schema: schema, table: table, columns: [],
                                           primaryKey: row[9].map { $0.split(separator: "\u{1F}").map(String.init) } ?? [],
                                           replicaIdentity: identity))
            }
            let typeOID = row[10].flatMap { UInt32($0) } ?? 0
            schemas[schemas.count - 1].columns.append(TableSchema.Column(
                name: name, position: schemas[schemas.count - 1].columns.count + 1, type: type, typmod: Int32(row[5] ?? "-1") ?? -1,
                nullable: row[6] != "t", hasDefault: row[7] == "t",
                enumLabels: row[8].map { $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init) },
                shape: try await shape(of: typeOID, named: type, cache: &shapes, depth: 0), volatileDefault: row[11] == "t"))
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
        var shapes: [UInt32: TypeShape] = [:]
        for (index, column) in relation.columns.enumerated() {
            let type = types[index].first.flatMap { $0 } ?? "oid \(column.typeOID)"
            var schemaColumn = TableSchema.Column(name: column.name, position: index + 1, type: type, typmod: column.typeModifier,
                                                  shape: try await shape(of: column.typeOID, named: type, cache: &shapes, depth: 0))
            if let known = current?.column(named: column.name), known.type == type {
                schemaColumn.nullable = known.nullable
                schemaColumn.hasDefault = known.hasDefault
                schemaColumn.volatileDefault = known.volatileDefault
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

extension RelationCatalog {
    /// A type resolved through arrays, domains and composites, for the registry. `name` is the
    /// type's `format_type`, with its typmod, as the caller read it.
    func shape(of oid: UInt32, named name: String, cache: inout [UInt32: TypeShape], depth: Int) async throws -> TypeShape {
        if let builtin = ValueKind.builtin(oid) { return .base(name, builtin.jsonForm) }
        if let known = cache[oid], known.name == name { return known }
        guard depth < 8, let type = try await catalogType(oid) else { return .base(name, .string) }
        let shape: TypeShape
        if type.isArray {
            let elementName = name.hasSuffix("[]") ? String(name.dropLast(2)) : name
            shape = .array(try await self.shape(of: type.element, named: elementName, cache: &cache, depth: depth + 1))
        } else if type.isDomain {
            shape = .domain(name, try await self.shape(of: type.base, named: type.baseName, cache: &cache, depth: depth + 1))
        } else if type.isComposite {
            var fields: [TypeShape.Attribute] = []
            for attribute in try await attributes(ofComposite: type.relid) {
                fields.append(.init(name: attribute.name,
                                        shape: try await self.shape(of: attribute.type, named: attribute.typeName, cache: &cache, depth: depth + 1)))
            }
            shape = .composite(name, attributes: fields)
        } else if let known = type.knownExtensionKind {
            shape = .base(name, known.jsonForm)
        } else if type.isEnum {
            let labels = try await connection.execute(
                "SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = \(oid) ORDER BY enumsortorder")
            shape = .enumeration(name, labels: labels.compactMap { $0.first ?? nil })
        } else {
            shape = .base(name, .string)
        }
        cache[oid] = shape
        return shape
    }
}

extension ValueKind {
    /// The JSON a value of this kind is, under the default decimal handling.
    var jsonForm: TypeShape.JSONForm {
        switch self {
        case .integer: .integer
        case .float: .number
        case .numeric, .money: .decimal
        case .boolean: .boolean
        case .json: .json
        case .hstore: .object
        case .bytea, .timestamp, .timestamptz, .timetz, .string: .string
        case .array, .composite: .json  // never a base type's kind: shapes resolve these themselves
        }
    }
}
