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
            guard !table.versions.isEmpty else { continue }
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
            findings += Self.findings(of: candidate, against: table.versions, mode: table.compatibility)
        }
        newTables = byName.keys.filter { registry.tables[$0] == nil }.sorted()
    }

    /// A registered version against the versions before it, under the table's mode: what an
    /// operator reviews before `pgreflex schema accept`. Version 1 has nothing to compare with.
    public init(version: Int, of table: String, in registry: SchemaRegistry) {
        guard let entry = registry.tables[table], version > 1, entry.versions.indices.contains(version - 1) else { return }
        checkedTables = 1
        findings = Self.findings(of: entry.versions[version - 1], against: Array(entry.versions[..<(version - 1)]),
                                 mode: entry.compatibility)
    }

    /// The violations of the mode, then the compatible changes against the latest version, for the record.
    static func findings(of candidate: TableSchema, against versions: [TableSchema], mode: CompatibilityMode) -> [Finding] {
        let violations = mode.violations(of: candidate, after: versions)
        var findings = violations.map { Finding(change: $0.change, mode: mode, againstVersion: $0.version, breaking: true) }
        for change in candidate.changes(since: versions.last!) where !violations.contains(where: { $0.change == change }) {
            findings.append(Finding(change: change, mode: mode, againstVersion: versions.count, breaking: false))
        }
        return findings
    }

    /// One line per finding and new table, without the summary.
    public var lines: [String] {
        var lines: [String] = []
        for finding in findings {
            let change = finding.change
            let place = change.table + (change.column.map { ".\($0)" } ?? "")
            lines.append("\(finding.breaking ? "BREAKING" : "ok      ") \(place): \(change.kind.rawValue) (\(change.detail)) "
                + "under \(finding.mode.rawValue) against v\(finding.againstVersion): \(change.rule)")
        }
        for table in newTables { lines.append("UNREGISTERED \(table): not in the registry; `pgreflex schema snapshot` adds it") }
        return lines
    }

    public var text: String {
        var lines = self.lines
        let broken = Set(findings.filter(\.breaking).map(\.change.table)).count
        lines.append((breaks
            ? "schema check: \(broken) of \(checkedTables) registered tables break compatibility"
            : "schema check: \(checkedTables) registered tables compatible")
            + (newTables.isEmpty ? "" : "; \(newTables.count) tables not in the registry"))
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
