public import PGReflexTransport
public import PGReflexWire

/// Looks up in the catalog what a Relation message lacks. It reads the current catalog, not
/// the one in force when the change was written: a primary key changed since then shows as
/// the new one.
public struct RelationCatalog: Sendable {
    let connection: PostgresConnection

    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    public func details(for relation: PgOutputMessage.Relation) async throws -> RelationDetails {
        let rows = try await connection.execute("""
            SELECT a.attname FROM pg_catalog.pg_index i
            JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE i.indrelid = \(relation.oid) AND i.indisprimary
            ORDER BY array_position(i.indkey::int2[], a.attnum)
            """)
        let names = rows.compactMap { $0.first ?? nil }
        var resolved: [UInt32: ValueKind] = [:]
        var unknown: [String] = []
        var kinds: [ValueKind] = []
        for column in relation.columns {
            kinds.append(try await kind(of: column.typeOID, resolved: &resolved, unknown: &unknown, depth: 0))
        }
        var details = RelationDetails(primaryKey: names.isEmpty ? nil : names, columnKinds: kinds)
        details.unknownTypes = unknown
        return details
    }

    /// Resolves a type: built-ins directly; arrays by their element, domains by their base,
    /// composites by their attributes; hstore and pgvector by name; the rest as text.
    func kind(of oid: UInt32, resolved: inout [UInt32: ValueKind], unknown: inout [String], depth: Int) async throws -> ValueKind {
        if let builtin = ValueKind.builtin(oid) { return builtin }
        if let known = resolved[oid] { return known }
        guard depth < 8, let type = try await catalogType(oid) else { return .string }
        let kind: ValueKind
        if type.isArray {
            kind = .array(element: try await self.kind(of: type.element, resolved: &resolved, unknown: &unknown, depth: depth + 1),
                          delimiter: type.delimiter)
        } else if type.isDomain {
            kind = try await self.kind(of: type.base, resolved: &resolved, unknown: &unknown, depth: depth + 1)
        } else if type.isComposite {
            var fields: [ValueKind.CompositeField] = []
            for attribute in try await attributes(ofComposite: type.relid) {
                fields.append(.init(name: attribute.name,
                                    kind: try await self.kind(of: attribute.type, resolved: &resolved, unknown: &unknown, depth: depth + 1)))
            }
            kind = .composite(fields: fields)
        } else if let known = type.knownExtensionKind {
            kind = known
        } else if type.typtype == "e" || type.typtype == "r" || type.typtype == "m" {
            kind = .string  // enums, ranges and multiranges: their text form, as Debezium writes them
        } else {
            unknown.append(type.name)
            kind = .string
        }
        resolved[oid] = kind
        return kind
    }

    /// One `pg_type` row, as the value-kind and the type-shape resolvers both read it.
    struct CatalogType {
        var name: String
        var typtype: String
        var base: UInt32
        /// `format_type` of the domain's base type, with the domain's typmod.
        var baseName: String
        var element: UInt32
        var relid: UInt32
        var category: String
        var delimiter: UInt8

        var isArray: Bool { category == "A" && element != 0 }
        var isDomain: Bool { typtype == "d" && base != 0 }
        var isComposite: Bool { typtype == "c" && relid != 0 }
        var isEnum: Bool { typtype == "e" }

        /// Extension types mapped by name.
        var knownExtensionKind: ValueKind? {
            switch name {
            case "hstore": .hstore
            case "vector", "halfvec": .json  // pgvector prints [1,2,3]: already a JSON array of numbers
            default: nil
            }
        }
    }

    func catalogType(_ oid: UInt32) async throws -> CatalogType? {
        let rows = try await connection.execute("""
            SELECT t.typname, t.typtype, t.typbasetype, pg_catalog.format_type(t.typbasetype, t.typtypmod), t.typelem, t.typrelid,
                   t.typcategory, t.typdelim
            FROM pg_catalog.pg_type t WHERE t.oid = \(oid)
            """)
        guard let row = rows.first, row.count == 8 else { return nil }
        return CatalogType(name: row[0] ?? "", typtype: row[1] ?? "", base: row[2].flatMap { UInt32($0) } ?? 0, baseName: row[3] ?? "",
                           element: row[4].flatMap { UInt32($0) } ?? 0, relid: row[5].flatMap { UInt32($0) } ?? 0,
                           category: row[6] ?? "", delimiter: row[7]?.utf8.first ?? UInt8(ascii: ","))
    }

    /// A composite type's live attributes, in order, with their types.
    func attributes(ofComposite relid: UInt32) async throws -> [(name: String, type: UInt32, typeName: String)] {
        let rows = try await connection.execute("""
            SELECT attname, atttypid, pg_catalog.format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute
            WHERE attrelid = \(relid) AND attnum > 0 AND NOT attisdropped ORDER BY attnum
            """)
        return rows.compactMap { row in
            guard let name = row[0] ?? nil, let type = row[1].flatMap({ UInt32($0) }) else { return nil }
            return (name, type, row[2] ?? "")
        }
    }
}
