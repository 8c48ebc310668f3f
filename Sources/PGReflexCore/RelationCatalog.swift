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
        guard depth < 8 else { return .string }
        let rows = try await connection.execute("""
            SELECT t.typname, t.typtype, t.typbasetype, t.typelem, t.typrelid, t.typcategory, t.typdelim
            FROM pg_catalog.pg_type t WHERE t.oid = \(oid)
            """)
        guard let row = rows.first, row.count == 7 else { return .string }
        let name = row[0] ?? ""
        let type = row[1] ?? ""
        let base = row[2].flatMap { UInt32($0) } ?? 0
        let element = row[3].flatMap { UInt32($0) } ?? 0
        let relid = row[4].flatMap { UInt32($0) } ?? 0
        let category = row[5] ?? ""
        let delimiter = row[6]?.utf8.first ?? UInt8(ascii: ",")
        let kind: ValueKind
        if category == "A" && element != 0 {
            kind = .array(element: try await self.kind(of: element, resolved: &resolved, unknown: &unknown, depth: depth + 1), delimiter: delimiter)
        } else if type == "d" && base != 0 {
            kind = try await self.kind(of: base, resolved: &resolved, unknown: &unknown, depth: depth + 1)
        } else if type == "c" && relid != 0 {
            let attributes = try await connection.execute("""
                SELECT attname, atttypid FROM pg_catalog.pg_attribute
                WHERE attrelid = \(relid) AND attnum > 0 AND NOT attisdropped ORDER BY attnum
                """)
            var fields: [ValueKind.CompositeField] = []
            for attribute in attributes {
                guard let fieldName = attribute[0] ?? nil, let typeOID = attribute[1].flatMap({ UInt32($0) }) else { continue }
                fields.append(.init(name: fieldName, kind: try await self.kind(of: typeOID, resolved: &resolved, unknown: &unknown, depth: depth + 1)))
            }
            kind = .composite(fields: fields)
        } else if name == "hstore" {
            kind = .hstore
        } else if name == "vector" || name == "halfvec" {
            kind = .json  // pgvector prints [1,2,3]: already a JSON array of numbers
        } else if type == "e" || type == "r" || type == "m" {
            kind = .string  // enums, ranges and multiranges: their text form, as Debezium writes them
        } else {
            unknown.append(name)
            kind = .string
        }
        resolved[oid] = kind
        return kind
    }
}
