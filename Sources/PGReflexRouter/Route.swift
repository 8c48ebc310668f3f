#if canImport(Glibc)
import Glibc
#endif

/// `schema.table`, or `table` in `public`, with shell globs in each part (`*`, `?`, `[…]`):
/// `public.*`, `*.orders`. A glob never crosses the dot.
public struct TablePattern: Sendable, Equatable, CustomStringConvertible {
    public let schema: String
    public let table: String
    /// `schema.table` when neither part has a glob: matched by comparison, as most are.
    let literal: String?

    public init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1 where !parts[0].isEmpty: (schema, table) = ("public", parts[0])
        case 2 where !parts[0].isEmpty && !parts[1].isEmpty: (schema, table) = (parts[0], parts[1])
        default: return nil
        }
        let globs: Set<Character> = ["*", "?", "[", "\\"]
        literal = (schema + table).contains(where: globs.contains) ? nil : schema + "." + table
    }

    /// `name` is `schema.table`.
    public func matches(_ name: String) -> Bool {
        if let literal { return name == literal }
        guard let dot = name.firstIndex(of: ".") else { return false }
        return fnmatch(schema, String(name[..<dot]), 0) == 0 && fnmatch(table, String(name[name.index(after: dot)...]), 0) == 0
    }

    public var description: String { "\(schema).\(table)" }
}

/// Which changes wake an agent: tables, operations, changed columns (updates only) and a CEL
/// condition, checked in that order, cheapest first. Pure: what it decides depends on the
/// event alone.
public struct Route: Sendable {
    /// Debezium's operations: create, update, delete, truncate, message, and read (snapshots).
    public static let operations: Set<String> = ["c", "u", "d", "t", "m", "r"]

    public var name: String
    /// Empty: every table.
    public var tables: [TablePattern]
    /// Empty: every operation.
    public var ops: Set<String>
    /// For updates: fire only when one of these changed between `before` and `after`.
    public var columnsChanged: [String]
    public var condition: CELExpression?

    public init(name: String, tables: [TablePattern] = [], ops: Set<String> = [], columnsChanged: [String] = [],
                condition: CELExpression? = nil) {
        self.name = name
        self.tables = tables
        self.ops = ops
        self.columnsChanged = columnsChanged
        self.condition = condition
    }

    /// Whether the event wakes the route, and if not, which test said no.
    public enum Verdict: Sendable, Equatable, CustomStringConvertible {
        case matches
        case otherTable(String)
        case otherOperation(String)
        case noWatchedColumnChanged([String])
        case conditionFalse
        /// The condition had no value for this event (a missing field, a type mismatch).
        case conditionFailed(CELEvaluationError)

        public var description: String {
            switch self {
            case .matches: "matches"
            case .otherTable(let table): "table \(table) is not among the route's tables"
            case .otherOperation(let op): "operation \(op) is not among the route's ops"
            case .noWatchedColumnChanged(let columns): "none of \(columns.joined(separator: ", ")) changed"
            case .conditionFalse: "the if condition is false"
            case .conditionFailed(let error): "the if condition has no value: \(error.message)"
            }
        }
    }

    /// Decides one event. `activation` is read only when the columns or the condition need it
    /// (one event's activation is shared by every route).
    public func verdict(table: String, op: String, activation: () throws -> CELActivation) rethrows -> Verdict {
        if !tables.isEmpty && !tables.contains(where: { $0.matches(table) }) { return .otherTable(table) }
        if !ops.isEmpty && !ops.contains(op) { return .otherOperation(op) }
        if !columnsChanged.isEmpty && op == "u" {
            let variables = try activation()
            if !Self.anyChanged(columnsChanged, before: variables["before"], after: variables["after"]) {
                return .noWatchedColumnChanged(columnsChanged)
            }
        }
        guard let condition else { return .matches }
        let variables = try activation()
        do {
            return try condition.holds(variables) ? .matches : .conditionFalse
        } catch {
            return .conditionFailed(error)
        }
    }

    /// Whether a watched column differs between the images. Without a before image (the table's
    /// REPLICA IDENTITY is not FULL) nothing can be compared: it counts as changed, so nothing is
    /// missed. An unchanged TOASTed value (the unavailable placeholder) counts as unchanged.
    static func anyChanged(_ columns: [String], before: CELValue?, after: CELValue?) -> Bool {
        guard case .map(let old)? = before, case .map(let new)? = after else { return true }
        return columns.contains { column in
            guard let was = old[column] else { return true }
            let now = new[column] ?? .null
            if case .string(let s) = now, s == "__debezium_unavailable_value" { return false }
            return !CELInterpreter.equal(was, now)
        }
    }
}

extension CELExpression {
    /// A column read from a row image: `after.x`, `before.x`, `event.after.x` (and `has(after.x)`).
    public struct ColumnReference: Sendable, Equatable {
        /// `before` or `after`.
        public var image: String
        public var column: String
        /// UTF-8 offset of the column's name in the expression.
        public var offset: Int
    }

    /// Every column the expression reads from a row image, for checking against the tables'
    /// registered schemas.
    public var columnReferences: [ColumnReference] {
        var found: [ColumnReference] = []
        func image(of node: CELNode) -> String? { node.rowImage }
        func walk(_ node: CELNode) {
            switch node.kind {
            case .select(let operand, let field), .has(let operand, let field):
                if let image = image(of: operand) { found.append(ColumnReference(image: image, column: field, offset: node.offset)) }
                walk(operand)
            case .literal, .doubleLiteral, .identifier: break
            case .regexMatch(let operand, _): walk(operand)
            case .index(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b):
                walk(a)
                walk(b)
            case .call(_, let target, let arguments):
                if let target { walk(target) }
                arguments.forEach(walk)
            case .not(let a), .negate(let a): walk(a)
            case .conditional(let a, let b, let c):
                walk(a)
                walk(b)
                walk(c)
            case .list(let elements): elements.forEach(walk)
            case .map(let entries):
                for (k, v) in entries {
                    walk(k)
                    walk(v)
                }
            }
        }
        walk(root)
        return found
    }

    /// The 1-based line and column of a UTF-8 offset in the expression.
    public func position(of offset: Int) -> (line: Int, column: Int) {
        let error = CELSyntaxError("", at: offset, in: source)
        return (error.line, error.column)
    }
}

extension CELNode {
    /// `before` or `after` when the node is a row image (`after`, `event.after`), whose fields
    /// are columns.
    var rowImage: String? {
        switch kind {
        case .identifier(let name) where name == "after" || name == "before": name
        case .select(let inner, let field) where field == "after" || field == "before":
            if case .identifier("event") = inner.kind { field } else { nil }
        default: nil
        }
    }
}
