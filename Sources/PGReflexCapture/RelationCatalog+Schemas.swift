import PGReflexEnvelope
public import PGReflexSchema
import PGReflexTransport
public import PGReflexWire

/// Table schemas for the registry, read from the same catalog session.
extension RelationCatalog {
    /// The given tables, or every ordinary and partitioned table outside the system schemas.
    /// A named table that does not exist is an error, unless `allowMissing`.
    public func tableSchemas(_ tables: [TableName] = [], allowMissing: Bool = false) async throws -> [TableSchema] {
        var schemas: [TableSchema] = []
        var shapes: [UInt32: TypeShape] = [:]
        for column in try await connection.tableColumns(tables) {
            if schemas.last?.schema != column.table.schema || schemas.last?.table != column.table.name {
                schemas.append(TableSchema(schema: column.table.schema, table: column.table.name, columns: [],
                                           primaryKey: column.primaryKey, replicaIdentity: column.replicaIdentity))
            }
            schemas[schemas.count - 1].columns.append(TableSchema.Column(
                name: column.name, position: schemas[schemas.count - 1].columns.count + 1, type: column.type, typmod: column.typmod,
                nullable: !column.notNull, hasDefault: column.hasDefault, enumLabels: column.enumLabels,
                shape: try await shape(of: column.typeOID, named: column.type, cache: &shapes, depth: 0),
                volatileDefault: column.volatileDefault))
        }
        for table in tables where !allowMissing && !schemas.contains(where: { $0.schema == table.schema && $0.table == table.name }) {
            throw PostgresError(code: .tableNotFound, message: "table \(table) does not exist")
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
        let types = try await connection.formatTypes(relation.columns.map { ($0.typeOID, $0.typeModifier) })
        var columns: [TableSchema.Column] = []
        var shapes: [UInt32: TypeShape] = [:]
        for (index, column) in relation.columns.enumerated() {
            let type = types[index] ?? "oid \(column.typeOID)"
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
        guard depth < 8, let type = try await connection.catalogType(oid) else { return .base(name, .string) }
        let shape: TypeShape
        if type.isArray {
            let elementName = name.hasSuffix("[]") ? String(name.dropLast(2)) : name
            shape = .array(try await self.shape(of: type.element, named: elementName, cache: &cache, depth: depth + 1))
        } else if type.isDomain {
            shape = .domain(name, try await self.shape(of: type.base, named: type.baseName, cache: &cache, depth: depth + 1))
        } else if type.isComposite {
            var fields: [TypeShape.Attribute] = []
            for attribute in try await connection.compositeAttributes(type.relid) {
                fields.append(.init(name: attribute.name,
                                        shape: try await self.shape(of: attribute.type, named: attribute.typeName, cache: &cache, depth: depth + 1)))
            }
            shape = .composite(name, attributes: fields)
        } else if let known = type.knownExtensionKind {
            shape = .base(name, known.jsonForm)
        } else if type.isEnum {
            shape = .enumeration(name, labels: try await connection.enumLabels(oid))
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
