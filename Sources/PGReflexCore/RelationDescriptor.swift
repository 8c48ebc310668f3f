public import PGReflexWire

/// A relation as the decoder last described it, with what encoding needs precomputed:
/// each column's JSON key bytes and value kind. Immutable and shared by every event of the
/// relation, so an event costs one reference, not a copy of the column list.
public final class RelationDescriptor: Sendable {
    public let relation: PgOutputMessage.Relation
    /// `"name":` for each column, already escaped.
    let columnKeys: [[UInt8]]
    let columnKinds: [JSONValueKind]
    let keyColumnIndexes: [Int]
    let schemaJSON: [UInt8]
    let tableJSON: [UInt8]

    public init(_ relation: PgOutputMessage.Relation) {
        self.relation = relation
        columnKeys = relation.columns.map { column in
            var writer = JSONWriter()
            writer.string(column.name)
            writer.raw(UInt8(ascii: ":"))
            return writer.bytes
        }
        columnKinds = relation.columns.map { JSONValueKind(typeOID: $0.typeOID) }
        keyColumnIndexes = relation.columns.indices.filter { relation.columns[$0].isKey }
        var schema = JSONWriter()
        schema.string(relation.namespace)
        schemaJSON = schema.bytes
        var table = JSONWriter()
        table.string(relation.name)
        tableJSON = table.bytes
    }

    public var table: TableNameParts { TableNameParts(schema: relation.namespace, name: relation.name) }
}

public struct TableNameParts: Sendable, Hashable {
    public var schema: String
    public var name: String
}
