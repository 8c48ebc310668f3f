import Foundation

/// `pgreflex schema check`: live (or another registry's) table schemas against the registry,
/// each under its table's compatibility mode.
public struct SchemaCheck: Sendable {
    public struct Finding: Sendable, Equatable {
        public var change: SchemaChange
        public var mode: CompatibilityMode
        /// The registered version the change was compared with.
        public var againstVersion: Int
        public var breaking: Bool
    }

    public var findings: [Finding] = []
    /// Tables not yet in the registry (not a break: `schema snapshot` adds them).
    public var newTables: [String] = []
    public var checkedTables = 0

    public var breaks: Bool { findings.contains { $0.breaking } }

    /// `onlyListed`: the candidates are a chosen subset, so registered tables missing from them
    /// are not reported as dropped.
    public init(candidates: [TableSchema], registry: SchemaRegistry, onlyListed: Bool = false) {
        let byName = Dictionary(candidates.map { ($0.qualifiedName, $0) }, uniquingKeysWith: { a, _ in a })
        for name in registry.tables.keys.sorted() {
            let table = registry.tables[name]!
            guard let latest = table.versions.last else { continue }
            guard let candidate = byName[name] else {
                if onlyListed { continue }
                checkedTables += 1
                findings.append(Finding(
                    change: SchemaChange(table: name, column: nil, kind: .tableDropped, detail: "the table is gone",
                                         backwardCompatible: false, forwardCompatible: false,
                                         rule: "dropping a registered table breaks its consumers"),
                    mode: table.compatibility, againstVersion: table.versions.count, breaking: table.compatibility != .none))
                continue
            }
            checkedTables += 1
            let violations = table.compatibility.violations(of: candidate, after: table.versions)
            for (version, change) in violations {
                findings.append(Finding(change: change, mode: table.compatibility, againstVersion: version, breaking: true))
            }
            // The compatible changes against the latest version, for the record.
            for change in candidate.changes(since: latest) where !violations.contains(where: { $0.change == change }) {
                findings.append(Finding(change: change, mode: table.compatibility, againstVersion: table.versions.count, breaking: false))
            }
        }
        newTables = byName.keys.filter { registry.tables[$0] == nil }.sorted()
    }

    public var text: String {
        var lines: [String] = []
        for finding in findings {
            let change = finding.change
            let place = change.table + (change.column.map { ".\($0)" } ?? "")
            lines.append("\(finding.breaking ? "BREAKING" : "ok      ") \(place): \(change.kind.rawValue) (\(change.detail)) "
                + "under \(finding.mode.rawValue) against v\(finding.againstVersion): \(change.rule)")
        }
        for table in newTables { lines.append("new      \(table): not in the registry yet; `pgreflex schema snapshot` adds it") }
        let broken = Set(findings.filter(\.breaking).map(\.change.table)).count
        lines.append(breaks
            ? "schema check: \(broken) of \(checkedTables) registered tables break compatibility"
            : "schema check: \(checkedTables) registered tables compatible")
        return lines.joined(separator: "\n") + "\n"
    }

    public var json: String {
        let object: [String: Any] = [
            "compatible": !breaks,
            "checked_tables": checkedTables,
            "new_tables": newTables,
            "findings": findings.map { finding -> [String: Any] in
                [
                    "table": finding.change.table, "column": finding.change.column ?? NSNull(), "change": finding.change.kind.rawValue,
                    "detail": finding.change.detail, "rule": finding.change.rule, "mode": finding.mode.rawValue,
                    "against_version": finding.againstVersion, "breaking": finding.breaking,
                ]
            },
        ]
        let data = (try? SchemaRegistry.encode(object)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
