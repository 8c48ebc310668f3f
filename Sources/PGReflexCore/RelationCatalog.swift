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
        return RelationDetails(primaryKey: names.isEmpty ? nil : names)
    }
}
