public import PGReflexEnvelope
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
        let names = try await connection.primaryKeyColumns(ofRelation: relation.oid)
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
        guard depth < 8, let type = try await connection.catalogType(oid) else { return .string }
        let kind: ValueKind
        if type.isArray {
            kind = .array(element: try await self.kind(of: type.element, resolved: &resolved, unknown: &unknown, depth: depth + 1),
                          delimiter: type.delimiter)
        } else if type.isDomain {
            kind = try await self.kind(of: type.base, resolved: &resolved, unknown: &unknown, depth: depth + 1)
        } else if type.isComposite {
            var fields: [ValueKind.CompositeField] = []
            for attribute in try await connection.compositeAttributes(type.relid) {
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
}

extension CatalogType {
    /// Extension types mapped by name.
    var knownExtensionKind: ValueKind? {
        switch name {
        case "hstore": .hstore
        case "vector", "halfvec": .json  // pgvector prints [1,2,3]: already a JSON array of numbers
        default: nil
        }
    }
}
