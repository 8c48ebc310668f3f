/// The relations (and named types) a session has described, by OID. A Relation message
/// that arrives mid-stream, for example after ALTER TABLE, replaces the earlier entry for
/// the changes that follow it.
public struct RelationCache: Sendable {
    public private(set) var relations: [UInt32: PgOutputMessage.Relation] = [:]
    public private(set) var types: [UInt32: PgOutputMessage.TypeMessage] = [:]

    public init() {}

    public mutating func apply(_ relation: PgOutputMessage.Relation) {
        relations[relation.oid] = relation
    }

    public mutating func apply(_ type: PgOutputMessage.TypeMessage) {
        types[type.oid] = type
    }

    public subscript(oid: UInt32) -> PgOutputMessage.Relation? {
        relations[oid]
    }
}
