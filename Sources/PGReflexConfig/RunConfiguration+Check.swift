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
    /// read. An unset variable is a warning unless `requireEnvironment` (a CI with the secrets).
    public func check(registry: [String: SchemaRegistry.Current]? = nil, requireEnvironment: Bool = false) -> CheckReport {
        var report = CheckReport()
        for unset in unsetEnvironment {
            let finding = ConfigurationError(file: file, line: unset.line, message: unset.description)
            if requireEnvironment { report.errors.append(finding) } else { report.warnings.append(finding) }
        }
        for settings in routes {
            let route = settings.route
            let mark = routeConditionMarks[route.name] ?? ExpressionMark(line: nil, column: nil)
            if !source.tables.isEmpty {
                for pattern in route.tables where !source.tables.contains(where: { pattern.matches($0.description) }) {
                    report.errors.append(ConfigurationError(file: file, line: nil,
                        message: "routes.\(route.name).tables: \(pattern) matches no table of source.tables (\(source.tables.map(\.description).joined(separator: ", "))): "
                            + "fix the name, or add the table to source.tables"))
                }
            }
            var columnTypes: [String: CELStaticType] = [:]
            if let registry {
                guard let tables = judge(settings, against: registry, into: &report) else { continue }
                columnTypes = Self.columnTypes(of: tables)
            }
            if let condition = route.condition {
                for finding in condition.conditionFindings(columnTypes: columnTypes) {
                    let (line, column) = condition.position(of: finding.offset)
                    let error = mark.error(file: file, line: line, column: column, message: "routes.\(route.name).if: \(finding.message)")
                    if finding.severity == .error { report.errors.append(error) } else { report.warnings.append(error) }
                }
            }
        }
        return report
    }

    /// The registry's part of the check for one route; returns the tables it reads, or nil
    /// when it matches none.
    private func judge(_ settings: RouteSettings, against registry: [String: SchemaRegistry.Current], into report: inout CheckReport) -> [TableSchema]? {
        let route = settings.route
        let names = registry.keys.sorted().filter { name in route.tables.isEmpty || route.tables.contains { $0.matches(name) } }
        guard !names.isEmpty else {
            report.errors.append(ConfigurationError(file: file, line: routeConditionMarks[route.name]?.line,
                message: "routes.\(route.name).tables match no table in the schema registry (its tables: \(registry.keys.sorted().joined(separator: ", ")))"))
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
            report.errors.append(ConfigurationError(file: file, line: nil, message: "routes.\(route.name).columns_changed: " + missing(column, column)))
        }
        if let condition = route.condition {
            let mark = routeConditionMarks[route.name] ?? ExpressionMark(line: nil, column: nil)
            for reference in condition.columnReferences where !known.contains(reference.column) {
                let (line, column) = condition.position(of: reference.offset)
                report.errors.append(mark.error(file: file, line: line, column: column,
                    message: "routes.\(route.name).if: " + missing("\(reference.image).\(reference.column)", reference.column)))
            }
        }
        // The keys and the priority read columns too.
        for (setting, expression) in settings.expressions {
            for reference in expression.columnReferences where !known.contains(reference.column) {
                report.errors.append(ConfigurationError(file: file, line: nil,
                    message: "routes.\(route.name).\(setting): " + missing("\(reference.image).\(reference.column)", reference.column)))
            }
        }
        for table in settings.schemaVersions.keys.sorted() where registry[table] == nil {
            report.errors.append(ConfigurationError(file: file, line: nil,
                message: "routes.\(route.name).schema_versions: \(table) is not in the schema registry (its tables: \(registry.keys.sorted().joined(separator: ", ")))"))
        }
        return tables
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
