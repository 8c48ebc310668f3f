public import PGReflexPrivacy
public import PGReflexWire

/// What the catalog adds to a Relation message.
public struct RelationDetails: Sendable, Equatable {
    /// Primary key columns, in key order; nil when the table has none.
    public var primaryKey: [String]?
    /// Each column's kind, resolved through the catalog; nil to use built-in types only.
    public var columnKinds: [ValueKind]?
    /// Types written as their text form for want of a better mapping (each warned about once).
    public var unknownTypes: [String] = []

    public init(primaryKey: [String]?, columnKinds: [ValueKind]? = nil) {
        self.primaryKey = primaryKey
        self.columnKinds = columnKinds
    }
}

/// A relation as the decoder last described it, with what encoding needs precomputed:
/// each column's JSON key bytes and value kind. Immutable and shared by every event of the
/// relation, so an event costs one reference, not a copy of the column list.
public final class RelationDescriptor: Sendable {
    public let relation: PgOutputMessage.Relation
    /// `schema.table`, as configuration and the registry name it.
    public let qualifiedName: String
    /// `"name":` for every column, escaped, back to back; `columnKeyRanges[i]` is column i's.
    /// One buffer, so writing a row touches one array, not one per column.
    let columnKeyBytes: [UInt8]
    let columnKeyRanges: [Range<Int>]
    let columnKinds: [ValueKind]
    /// The columns of the event key: the primary key when the catalog told us one, else the
    /// replica identity key (DEFAULT or INDEX). Empty (no key) under FULL without a primary
    /// key, and under NOTHING.
    public let keyColumnIndexes: [Int]
    let schemaJSON: [UInt8]
    let tableJSON: [UInt8]
    /// Each column's privacy policy; nil when no column of the table is protected.
    let policies: [ColumnPolicy?]?
    let privacy: PrivacyPolicy?
    /// The columns a row image, a key-only before image and the key show: all but dropped ones.
    let rowColumnIndexes: [Int]
    /// Part of the replica identity key (pgoutput's flag): what a key-only before image holds.
    let identityColumnIndexes: [Int]
    let shownKeyColumnIndexes: [Int]

    /// The table's schema version in the registry, nil when unknown.
    public let schemaVersion: Int?
    /// `,"schema_version":N` (or null), written into the source block.
    let schemaVersionJSON: [UInt8]

    public init(_ relation: PgOutputMessage.Relation, details: RelationDetails? = nil, privacy: PrivacyPolicy? = nil,
                schemaVersion: Int? = nil) {
        self.schemaVersion = schemaVersion
        schemaVersionJSON = Array(",\"schema_version\":\(schemaVersion.map(String.init) ?? "null")".utf8)
        self.relation = relation
        qualifiedName = relation.namespace + "." + relation.name
        var keys = JSONWriter()
        var ranges: [Range<Int>] = []
        for column in relation.columns {
            let start = keys.bytes.count
            keys.string(column.name)
            keys.raw(UInt8(ascii: ":"))
            ranges.append(start..<keys.bytes.count)
        }
        columnKeyBytes = keys.bytes
        columnKeyRanges = ranges
        if let kinds = details?.columnKinds, kinds.count == relation.columns.count {
            columnKinds = kinds
        } else {
            columnKinds = relation.columns.map { ValueKind.builtin($0.typeOID) ?? .string }
        }
        if let primaryKey = details?.primaryKey {
            keyColumnIndexes = primaryKey.compactMap { name in relation.columns.firstIndex { $0.name == name } }
        } else if relation.replicaIdentity == .default || relation.replicaIdentity == .index {
            keyColumnIndexes = relation.columns.indices.filter { relation.columns[$0].isKey }
        } else {
            // Under FULL pgoutput flags every column as key; that is no key to group by.
            keyColumnIndexes = []
        }
        let policies = privacy?.policies(schema: relation.namespace, table: relation.name, columns: relation.columns.map(\.name))
        self.policies = policies
        self.privacy = policies == nil ? nil : privacy
        let shown = { (index: Int) in policies?[index] != .drop }
        rowColumnIndexes = relation.columns.indices.filter(shown)
        identityColumnIndexes = relation.columns.indices.filter { relation.columns[$0].isKey && shown($0) }
        shownKeyColumnIndexes = keyColumnIndexes.filter(shown)
        var schema = JSONWriter()
        schema.string(relation.namespace)
        schemaJSON = schema.bytes
        var table = JSONWriter()
        table.string(relation.name)
        tableJSON = table.bytes
    }

    /// Whether an update moved the row to another key (then it is a delete and a create).
    func keyChanged(from old: PgOutputMessage.OldTuple, to new: TupleData) -> Bool {
        let oldTuple = old.tuple
        return keyColumnIndexes.contains { index in
            new.columns[index] != .unchangedToast && !oldTuple.columnEquals(index, new)
        }
    }
}
