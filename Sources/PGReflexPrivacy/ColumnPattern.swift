#if canImport(Glibc)
import Glibc
#endif

/// `schema.table.column` with shell globs in each part (`*`, `?`, `[…]`), for example
/// `public.*.email` or `*.customers.ssn`. A glob never crosses a dot.
public struct ColumnPattern: Sendable, Equatable, CustomStringConvertible {
    public let schema: String
    public let table: String
    public let column: String

    public init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        (schema, table, column) = (parts[0], parts[1], parts[2])
    }

    public func matches(schema: String, table: String, column: String) -> Bool {
        fnmatch(self.schema, schema, 0) == 0 && fnmatch(self.table, table, 0) == 0 && fnmatch(self.column, column, 0) == 0
    }

    public var description: String { "\(schema).\(table).\(column)" }
}
