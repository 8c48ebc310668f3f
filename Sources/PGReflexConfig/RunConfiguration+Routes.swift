import PGReflexAgents
import PGReflexJournal
import PGReflexRouter
import Yams

extension RunConfiguration.Reader {
    /// `routes:`, a mapping of route names to what each matches, its agent and its flow
    /// control; where each expression and `columns_changed` starts goes to ``marks``.
    func routes(_ node: Node, agents: [AgentSettings]) throws -> [RouteSettings] {
        guard case .mapping(let entries) = node else {
            throw fail(node, "routes must map each route's name to { tables, ops, columns_changed, if, agent, … }")
        }
        var routes: [RouteSettings] = []
        for (key, value) in entries {
            let name = try string(key, "routes")
            guard ConsumerSettings.isValidName(name) else {
                throw fail(key, "routes: '\(name)' is not a route name: use letters, digits, _ and - (it names the route's cursor)")
            }
            if case .mapping(let fields) = value { markExpressions(fields, route: name) }
            guard !routes.contains(where: { $0.name == name }) else { throw fail(key, "routes: '\(name)' appears twice: rename one") }
            routes.append(try routeSettings(value, name: name, agents: agents))
        }
        return routes
    }

    /// Where the route's column-reading settings start: `if`, `columns_changed` and each key.
    func markExpressions(_ fields: Node.Mapping, route: String) {
        for (key, value) in fields {
            guard let name = key.string else { continue }
            if name == "if" || name == "key" || name == "columns_changed" || name == "tables" || name == "schema_versions" {
                marks.found["routes.\(route).\(name)"] = expressionMark(value)
            } else if case .mapping(let inner) = value {
                for (innerKey, innerValue) in inner {
                    guard let innerName = innerKey.string, innerName == "key" || innerName == "run" else { continue }
                    marks.found["routes.\(route).\(name).\(innerName)"] = expressionMark(innerValue)
                }
            }
        }
    }

    /// What a parse found the places of; one per parse, never shared across threads.
    final class SettingMarks {
        var found: [String: RunConfiguration.ExpressionMark] = [:]
    }

    /// Where an expression's first character is in the file (no column for block scalars, whose
    /// text starts on the next line).
    func expressionMark(_ node: Node) -> RunConfiguration.ExpressionMark {
        guard case .scalar(let scalar) = node, let mark = node.mark else { return .init(line: RunConfiguration.line(node), column: nil) }
        switch scalar.style {
        case .literal, .folded: return .init(line: mark.line + 1, column: nil)
        case .singleQuoted, .doubleQuoted: return .init(line: mark.line, column: mark.column + 1)
        default: return .init(line: mark.line, column: mark.column)
        }
    }

    func route(_ section: [String: Node], name: String) throws -> Route {
        let key = "routes.\(name)"
        var route = Route(name: name)
        if let tables = section["tables"] {
            for item in try list(tables, "\(key).tables") {
                let text = try string(item, "\(key).tables")
                guard let pattern = TablePattern(parsing: text) else {
                    throw fail(item, "\(key).tables: '\(text)' is not schema.table or table (globs * ? [...] allowed in each part)")
                }
                route.tables.append(pattern)
            }
        }
        if let ops = section["ops"] {
            for item in try list(ops, "\(key).ops") {
                let op = try string(item, "\(key).ops")
                guard Route.operations.contains(op) else {
                    throw fail(item, "\(key).ops: '\(op)' is not an operation; use c (insert), u (update), d (delete), t (truncate), m (message) or r (snapshot read)")
                }
                route.ops.insert(op)
            }
        }
        if let columns = section["columns_changed"] {
            route.columnsChanged = try list(columns, "\(key).columns_changed").map { try string($0, "\(key).columns_changed") }
            if !route.ops.isEmpty && !route.ops.contains("u") {
                throw fail(columns, "\(key).columns_changed applies to updates, and ops has no u: add u to ops or remove columns_changed")
            }
        }
        if let condition = section["if"] {
            let text = try string(condition, "\(key).if")
            do {
                route.condition = try CELExpression(text)
            } catch {
                throw expressionError(error, in: condition, setting: "\(key).if")
            }
        }
        return route
    }

    /// A list, or one item standing for a list of one.
    func list(_ node: Node, _ name: String) throws -> [Node] {
        switch node {
        case .sequence(let sequence): return Array(sequence)
        case .scalar: return [node]
        default: throw fail(node, "\(name) must be a list")
        }
    }

    /// An expression's syntax error at its place in the file.
    func expressionError(_ error: CELSyntaxError, in node: Node, setting: String) -> ConfigurationError {
        expressionMark(node).error(file: file, line: error.line, column: error.column,
                                   message: "\(setting): \(error.message)")
    }
}

extension RunConfiguration {
    /// Where an expression starts in the configuration file.
    public struct ExpressionMark: Sendable, Equatable {
        public var line: Int?
        /// nil for a block scalar (`|` or `>`).
        public var column: Int?
        /// The file it is in when not the configuration's (a `prompt_file`).
        public var file: String?

        public init(line: Int?, column: Int?, file: String? = nil) {
            self.line = line
            self.column = column
            self.file = file
        }

        /// An error at a line and column inside the expression, placed in the file.
        func error(file: String, line: Int, column: Int, message: String) -> ConfigurationError {
            let fileLine = self.line.map { $0 + line - 1 }
            let fileColumn = line == 1 ? self.column.map { $0 + column - 1 } : nil
            return ConfigurationError(file: self.file ?? file, line: fileLine, column: fileColumn,
                                      message: message + (fileColumn == nil ? " (line \(line), column \(column) of the expression)" : ""))
        }
    }
}

extension RouteSettings {
    /// The route's expressions besides its condition, by setting.
    var expressions: [(String, CELExpression)] {
        var found: [(String, CELExpression?)] = [
            ("key", key), ("concurrency.key", concurrency.key), ("throttle.key", throttle?.key), ("rate_limit.key", rateLimit?.key),
            ("debounce.key", debounce?.key), ("batch.key", batch?.key), ("window.key", window?.key), ("priority.run", priority),
        ]
        found.append(("idempotency.key", idempotency?.key))
        return found.compactMap { name, expression in expression.map { (name, $0) } }
    }
}
