/// A table named as `schema.table`, or `table` for the `public` schema.
public struct TableName: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var schema: String
    public var name: String

    public init(schema: String, name: String) {
        self.schema = schema
        self.name = name
    }

    /// Parses `schema.table` or `table`. Quoting is not interpreted: names are taken as written.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        switch parts.count {
        case 1 where !parts[0].isEmpty: self.init(schema: "public", name: String(parts[0]))
        case 2 where !parts[0].isEmpty && !parts[1].isEmpty: self.init(schema: String(parts[0]), name: String(parts[1]))
        default: return nil
        }
    }

    public var description: String { "\(schema).\(name)" }

    public static func < (lhs: TableName, rhs: TableName) -> Bool {
        (lhs.schema, lhs.name) < (rhs.schema, rhs.name)
    }
}
