import PGReflexAgents
import PGReflexRouter
public import PGReflexSchema
import PGReflexTransport
import PGReflexWire

/// What `pgreflex check` finds: errors fail it, warnings are printed.
public struct CheckReport: Sendable {
    public var errors: [ConfigurationError] = []
    public var warnings: [ConfigurationError] = []
}

extension RunConfiguration {
    /// Everything `check` can judge without connecting: the environment the file names, each
    /// route's tables against `source.tables`, the type of each condition, and, with the
    /// registry's tables (each at the version the stream is on), the tables and columns routes
    /// and prompt templates read (``findings(against:)``). An unset variable is a warning unless
    /// `requireEnvironment` (a CI with the secrets).
    public func check(registry: [String: SchemaRegistry.Current]? = nil, requireEnvironment: Bool = false) -> CheckReport {
        var report = CheckReport()
        for unset in unsetEnvironment {
            let finding = ConfigurationError(file: file, line: unset.line, message: unset.description)
            if requireEnvironment { report.errors.append(finding) } else { report.warnings.append(finding) }
        }
        for settings in routes {
            let route = settings.route
            if !source.tables.isEmpty {
                for pattern in route.tables where !source.tables.contains(where: { pattern.matches($0.description) }) {
                    report.errors.append(error("routes.\(route.name).tables",
                        "routes.\(route.name).tables: \(pattern) matches no table of source.tables (\(source.tables.map(\.description).joined(separator: ", "))): "
                            + "fix the name, or add the table to source.tables"))
                }
            }
            if registry == nil { conditionFindings(settings, columnTypes: [:], into: &report) }
        }
        if let registry {
            let found = findings(against: registry)
            report.errors += found.errors
            report.warnings += found.warnings
        }
        return report
    }

    /// What tables at these versions break in the routes and the prompt templates (`check
    /// --registry`, and `schema check --config` against the database after its migrations): a
    /// table a route reads that is gone; a column that a route's `if`, `columns_changed` or
    /// key expressions, or a prompt template's `event.after.x`, reads that is gone or renamed;
    /// a type that makes a comparison invalid (text compared with a number). Each at its file
    /// and line.
    public func findings(against registry: [String: SchemaRegistry.Current]) -> CheckReport {
        var report = CheckReport()
        var columnsByAgent: [String: (known: Set<String>, described: String)] = [:]
        for settings in routes {
            guard let tables = judge(settings, against: registry, into: &report) else { continue }
            conditionFindings(settings, columnTypes: Self.columnTypes(of: tables), into: &report)
            let known = Set(tables.flatMap { $0.columns.map(\.name) })
            let described = tables.map(\.qualifiedName).joined(separator: ", ")
            let earlier = columnsByAgent[settings.agent]
            columnsByAgent[settings.agent] = (known.union(earlier?.known ?? []), earlier.map { $0.described + ", " + described } ?? described)
        }
        for agent in agents {
            guard let columns = columnsByAgent[agent.name], case .llm(let llm) = agent.kind else { continue }
            let (known, described) = columns
            var templates: [(setting: String, text: String)] = [("agents.\(agent.name).llm.system", llm.system), ("agents.\(agent.name).llm.prompt", llm.prompt)]
            for step in llm.enrich {
                for (parameter, text) in step.arguments.sorted(by: { $0.key < $1.key }) {
                    templates.append(("agents.\(agent.name).llm.enrich.\(step.tool).\(parameter)", text))
                }
            }
            for (setting, text) in templates {
                for reference in Self.columnReferences(template: text) where !known.contains(reference.name) {
                    let mark = settingMarks[setting] ?? ExpressionMark(line: nil, column: nil)
                    report.errors.append(mark.error(file: file, line: reference.line, column: reference.column,
                        message: "\(setting): {{\(reference.image)}} reads \(reference.name), which is not a column of \(described) (the tables its routes read); "
                            + "the columns are \(known.sorted().joined(separator: ", "))"))
                }
            }
        }
        return report
    }

    /// The condition's type findings, at its place in the file.
    private func conditionFindings(_ settings: RouteSettings, columnTypes: [String: CELStaticType], into report: inout CheckReport) {
        guard let condition = settings.route.condition else { return }
        let mark = settingMarks["routes.\(settings.name).if"] ?? ExpressionMark(line: nil, column: nil)
        for finding in condition.conditionFindings(columnTypes: columnTypes) {
            let (line, column) = condition.position(of: finding.offset)
            let error = mark.error(file: file, line: line, column: column, message: "routes.\(settings.name).if: \(finding.message)")
            if finding.severity == .error { report.errors.append(error) } else { report.warnings.append(error) }
        }
    }

    /// A finding at the start of a setting, when its place is known.
    private func error(_ setting: String, _ message: String) -> ConfigurationError {
        let mark = settingMarks[setting]
        return ConfigurationError(file: mark?.file ?? file, line: mark?.line, column: mark?.column, message: message)
    }

    /// The registry's part of the check for one route; returns the tables it reads, or nil
    /// when it matches none.
    private func judge(_ settings: RouteSettings, against registry: [String: SchemaRegistry.Current], into report: inout CheckReport) -> [TableSchema]? {
        let route = settings.route
        let names = registry.keys.sorted().filter { name in route.tables.isEmpty || route.tables.contains { $0.matches(name) } }
        guard !names.isEmpty else {
            report.errors.append(error("routes.\(route.name).tables",
                "routes.\(route.name).tables match no table in the schema (its tables: \(registry.keys.sorted().joined(separator: ", "))): was the table dropped or renamed?"))
            return nil
        }
        let current = names.compactMap { registry[$0] }
        let tables = current.map(\.schema)
        let described = current.map { "\($0.schema.qualifiedName) v\($0.version)" }.joined(separator: ", ")
        let known = Set(tables.flatMap { $0.columns.map(\.name) })
        func missing(_ what: String, _ column: String) -> String {
            "\(what) is not a column of \(described), the version the stream is on; the columns are \(known.sorted().joined(separator: ", "))"
        }
        for column in route.columnsChanged where !known.contains(column) {
            report.errors.append(error("routes.\(route.name).columns_changed", "routes.\(route.name).columns_changed: " + missing(column, column)))
        }
        if let condition = route.condition {
            let mark = settingMarks["routes.\(route.name).if"] ?? ExpressionMark(line: nil, column: nil)
            for reference in condition.columnReferences where !known.contains(reference.column) {
                let (line, column) = condition.position(of: reference.offset)
                report.errors.append(mark.error(file: file, line: line, column: column,
                    message: "routes.\(route.name).if: " + missing("\(reference.image).\(reference.column)", reference.column)))
            }
        }
        // The keys and the priority read columns too.
        for (setting, expression) in settings.expressions {
            for reference in expression.columnReferences where !known.contains(reference.column) {
                report.errors.append(error("routes.\(route.name).\(setting)",
                    "routes.\(route.name).\(setting): " + missing("\(reference.image).\(reference.column)", reference.column)))
            }
        }
        for table in settings.schemaVersions.keys.sorted() where registry[table] == nil {
            report.errors.append(error("routes.\(route.name).schema_versions",
                "routes.\(route.name).schema_versions: \(table) is not in the schema registry (its tables: \(registry.keys.sorted().joined(separator: ", ")))"))
        }
        return tables
    }

    /// Where a mustache template reads a row's column: `event.after.x` or `event.before.x`
    /// (1-based line and column in the template).
    static func columnReferences(template: String) -> [(image: String, name: String, line: Int, column: Int)] {
        var found: [(image: String, name: String, line: Int, column: Int)] = []
        let bytes = Array(template.utf8)
        var line = 1, lineStart = 0, index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                line += 1
                lineStart = index + 1
                index += 1
                continue
            }
            for prefix in ["event.after.", "event.before."] where bytes[index...].starts(with: prefix.utf8) {
                var end = index + prefix.utf8.count
                while end < bytes.count, bytes[end] == UInt8(ascii: "_") || (bytes[end] < 128 && Character(UnicodeScalar(bytes[end])).isLetter)
                    || (bytes[end] >= UInt8(ascii: "0") && bytes[end] <= UInt8(ascii: "9")) { end += 1 }
                let name = String(decoding: bytes[(index + prefix.utf8.count)..<end], as: UTF8.self)
                if !name.isEmpty {
                    found.append((String(decoding: bytes[index..<end], as: UTF8.self), name, line, index - lineStart + 1))
                }
                index = max(index, end - 1)
            }
            index += 1
        }
        return found
    }

    /// Each column's type in CEL, as the envelope writes it (docs/types.md); `dyn` where the
    /// tables disagree or the value's type depends on the row (numeric, json).
    static func columnTypes(of tables: [TableSchema]) -> [String: CELStaticType] {
        var types: [String: CELStaticType] = [:]
        for table in tables {
            for column in table.columns {
                let type = column.shape.map(celType) ?? .dyn
                types[column.name] = types[column.name].map { $0 == type ? type : .dyn } ?? type
            }
        }
        return types
    }

    private static func celType(_ shape: TypeShape) -> CELStaticType {
        switch shape.resolved {
        case .base(_, let form):
            switch form {
            case .integer: .int
            case .number, .decimal, .json: .dyn
            case .boolean: .bool
            case .object: .map
            case .string: .string
            }
        case .enumeration: .string
        case .array: .list
        case .composite: .map
        case .domain: .dyn
        }
    }
}

extension SchemaRegistry {
    /// A table at the version the stream was last seen on.
    public struct Current: Sendable {
        public var version: Int
        public var schema: TableSchema

        public init(version: Int, schema: TableSchema) {
            self.version = version
            self.schema = schema
        }
    }

    /// Each table at the version the stream was last seen on.
    public var currentTables: [String: Current] {
        tables.compactMapValues { table in
            guard table.current >= 1, table.current <= table.versions.count else { return nil }
            return Current(version: table.current, schema: table.versions[table.current - 1])
        }
    }
}
