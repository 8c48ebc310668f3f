public import PGReflexWire

/// One `pg_type` row, as the value-kind and the type-shape resolvers read it.
public struct CatalogType: Sendable, Equatable {
    public var name: String
    public var typtype: String
    public var base: UInt32
    /// `format_type` of the domain's base type, with the domain's typmod.
    public var baseName: String
    public var element: UInt32
    public var relid: UInt32
    public var category: String
    public var delimiter: UInt8

    public var isArray: Bool { category == "A" && element != 0 }
    public var isDomain: Bool { typtype == "d" && base != 0 }
    public var isComposite: Bool { typtype == "c" && relid != 0 }
    public var isEnum: Bool { typtype == "e" }
}

/// A composite type's attribute.
public struct CatalogAttribute: Sendable, Equatable {
    public var name: String
    public var type: UInt32
    /// `format_type`, with the typmod.
    public var typeName: String
}

/// One live, non-generated column of an ordinary or partitioned table, with its table's key
/// and replica identity.
public struct CatalogColumn: Sendable, Equatable {
    public var table: TableName
    /// `default`, `full`, `index` or `nothing`.
    public var replicaIdentity: String
    public var name: String
    /// `format_type`, with the typmod.
    public var type: String
    public var typeOID: UInt32
    public var typmod: Int32
    public var notNull: Bool
    public var hasDefault: Bool
    /// A default that calls a volatile function (`clock_timestamp()`, `nextval(…)`).
    public var volatileDefault: Bool
    public var enumLabels: [String]?
    /// The table's primary key columns, in key order; empty without one.
    public var primaryKey: [String]
}

/// The catalog queries capture needs, returned as typed rows. They read the current catalog,
/// on an ordinary (`.sql`) session.
extension PostgresConnection {
    /// A relation's primary key columns, in key order; empty without one.
    public func primaryKeyColumns(ofRelation oid: UInt32) async throws -> [String] {
        try execute("""
            SELECT a.attname FROM pg_catalog.pg_index i
            JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE i.indrelid = \(oid) AND i.indisprimary
            ORDER BY array_position(i.indkey::int2[], a.attnum)
            """).compactMap { $0.first ?? nil }
    }

    public func catalogType(_ oid: UInt32) async throws -> CatalogType? {
        let rows = try execute("""
            SELECT t.typname, t.typtype, t.typbasetype, pg_catalog.format_type(t.typbasetype, t.typtypmod), t.typelem, t.typrelid,
                   t.typcategory, t.typdelim
            FROM pg_catalog.pg_type t WHERE t.oid = \(oid)
            """)
        guard let row = rows.first, row.count == 8 else { return nil }
        return CatalogType(name: row[0] ?? "", typtype: row[1] ?? "", base: row[2].flatMap { UInt32($0) } ?? 0, baseName: row[3] ?? "",
                           element: row[4].flatMap { UInt32($0) } ?? 0, relid: row[5].flatMap { UInt32($0) } ?? 0,
                           category: row[6] ?? "", delimiter: row[7]?.utf8.first ?? UInt8(ascii: ","))
    }

    /// A composite type's live attributes, in order.
    public func compositeAttributes(_ relid: UInt32) async throws -> [CatalogAttribute] {
        try execute("""
            SELECT attname, atttypid, pg_catalog.format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute
            WHERE attrelid = \(relid) AND attnum > 0 AND NOT attisdropped ORDER BY attnum
            """).compactMap { row in
            guard let name = row[0] ?? nil, let type = row[1].flatMap({ UInt32($0) }) else { return nil }
            return CatalogAttribute(name: name, type: type, typeName: row[2] ?? "")
        }
    }

    /// An enum's labels, in sort order.
    public func enumLabels(_ oid: UInt32) async throws -> [String] {
        try execute("SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = \(oid) ORDER BY enumsortorder")
            .compactMap { $0.first ?? nil }
    }

    /// `format_type` of each (type, typmod), in order.
    public func formatTypes(_ types: [(oid: UInt32, typmod: Int32)]) async throws -> [String?] {
        guard !types.isEmpty else { return [] }
        let values = types.enumerated().map { "(\($0.offset), \($0.element.oid)::oid, \($0.element.typmod))" }
        return try execute(
            "SELECT pg_catalog.format_type(x.oid, x.typmod) FROM (VALUES \(values.joined(separator: ", "))) x(n, oid, typmod) ORDER BY x.n")
            .map { $0.first ?? nil }
    }

    /// The columns of the given tables, or of every ordinary and partitioned table outside the
    /// system schemas, in table then column order.
    public func tableColumns(_ tables: [TableName]) async throws -> [CatalogColumn] {
        let filter: String
        if tables.isEmpty {
            // The pgreflex schema holds pgreflex's own tables (action receipts): not the user's.
            filter = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgreflex') AND n.nspname NOT LIKE 'pg\\_toast%'"
        } else {
            var names: [String] = []
            for table in tables {
                names.append("(\(try quoteLiteral(table.schema)), \(try quoteLiteral(table.name)))")
            }
            filter = "(n.nspname, c.relname) IN (\(names.joined(separator: ", ")))"
        }
        // \x1f separates labels and key columns (names may hold commas). Generated columns are
        // left out: pgoutput does not send them (PostgreSQL 15 and earlier). A default is
        // volatile when it calls a volatile function: PostgreSQL itself then has no one value
        // for the rows that existed before the column.
        let rows = try execute("""
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
        return rows.compactMap { row in
            guard let schema = row[0], let table = row[1], let name = row[3], let type = row[4] else { return nil }
            return CatalogColumn(
                table: TableName(schema: schema, name: table),
                replicaIdentity: ["d": "default", "f": "full", "i": "index", "n": "nothing"][row[2] ?? "d"] ?? "default",
                name: name, type: type, typeOID: row[10].flatMap { UInt32($0) } ?? 0, typmod: Int32(row[5] ?? "-1") ?? -1,
                notNull: row[6] == "t", hasDefault: row[7] == "t", volatileDefault: row[11] == "t",
                enumLabels: row[8].map { $0.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init) },
                primaryKey: row[9].map { $0.split(separator: "\u{1F}").map(String.init) } ?? [])
        }
    }
}
