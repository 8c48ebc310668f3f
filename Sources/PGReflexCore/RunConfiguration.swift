import Foundation
public import PGReflexJournal
public import PGReflexPrivacy
import PGReflexTransport
import Yams

/// The one YAML file `pgreflex run` reads. Later features (routes, agents, privacy) add
/// sections to it.
///
/// ```yaml
/// source:
///   dsn_env: PGREFLEX_DSN          # or dsn: "host=… dbname=…" (keep passwords out of the file)
///   slot: pgreflex
///   publication: pgreflex_pub
///   tables: [public.orders, public.support_tickets]
///   create_slot: true
///   create_publication: true
///   heartbeat_interval_ms: 10000   # 0 turns the idle heartbeat off
///   slot_check_interval_ms: 60000
///   retained_wal_warning_bytes: 1073741824
/// journal:
///   directory: ./journal           # relative paths are relative to this file
///   segment_bytes: 67108864
///   fsync: { max_records: 1000, max_delay_ms: 20 }
///   retention: { max_bytes: 10737418240, max_age_hours: 168 }
/// sink:
///   file: { path: ./events.jsonl }
/// schemas:
///   directory: ./Schemas           # the reviewed registry (default: Schemas beside this file)
///   on_new_version: continue       # or hold: a new shape's events wait for `pgreflex schema accept`
///   tables: { public.orders: { on_new_version: hold } }
/// ```
public struct RunConfiguration: Sendable {
    public struct JournalSettings: Sendable, Equatable {
        public var directory: String
        public var segmentBytes: Int
        public var fsyncMaxRecords: Int
        public var fsyncMaxDelay: Duration
        public var retentionBytes: Int?
        public var retentionAge: Duration?
    }

    /// `sink.file`: appends each envelope as a JSON line, fsynced in groups.
    public struct FileSinkSettings: Sendable, Equatable {
        public var path: String
    }

    public var source: SourceOptions
    public var journal: JournalSettings
    public var sink: FileSinkSettings
    /// Column policies and approved columns; see RunConfiguration+Privacy.swift.
    public var privacy: PrivacyPolicy?
    /// The schema registry directory (`schemas.directory`, default `Schemas` beside this file).
    public var schemaRegistry: String
    /// `schemas.on_new_version`, per table.
    public var schemaVersionPolicy: SchemaVersionPolicy

    /// `needsSource: false` (for commands that only read the journal): an unset `dsn_env` is
    /// not an error, and the source's DSN is left empty.
    public static func load(_ path: String, environment: [String: String]? = nil, needsSource: Bool = true) throws -> RunConfiguration {
        let environment = environment ?? ProcessInfo.processInfo.environment
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(file: path, line: nil, message: "cannot read the configuration file: does it exist and is it readable?")
        }
        return try parse(text, file: path, environment: environment, needsSource: needsSource)
    }

    public static func parse(_ text: String, file: String, environment: [String: String] = [:], needsSource: Bool = true) throws -> RunConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, yaml: error, text: text)
        }
        let reader = Reader(file: file, base: ((file as NSString).deletingLastPathComponent as String), environment: environment)
        guard let root else { throw ConfigurationError(file: file, line: 1, message: "the file is empty: it needs source, journal and sink sections") }
        let top = try reader.mapping(root, "the file", keys: ["source", "journal", "sink", "privacy", "schemas"])

        let sourceNode = try reader.required(top, "source", in: root)
        let source = try reader.mapping(sourceNode, "source",
                                        keys: ["dsn", "dsn_env", "slot", "publication", "tables", "create_slot", "create_publication",
                                               "heartbeat_interval_ms", "slot_check_interval_ms", "retained_wal_warning_bytes"])
        let dsn: String
        switch (source["dsn"], source["dsn_env"]) {
        case (let node?, nil): dsn = try reader.string(node, "source.dsn")
        case (nil, let node?):
            let name = try reader.string(node, "source.dsn_env")
            guard let value = environment[name], !value.isEmpty else {
                if !needsSource {
                    dsn = ""
                    break
                }
                throw ConfigurationError(file: file, line: Self.line(node), message: "source.dsn_env names \(name), which is not set: export it")
            }
            dsn = value
        case (.some, .some):
            throw ConfigurationError(file: file, line: Self.line(sourceNode), message: "source has both dsn and dsn_env: keep one")
        case (nil, nil):
            throw ConfigurationError(file: file, line: Self.line(sourceNode), message: "source needs dsn or dsn_env (the name of an environment variable holding it)")
        }
        var tables: [TableName] = []
        if let node = source["tables"] {
            guard case .sequence(let sequence) = node else {
                throw ConfigurationError(file: file, line: Self.line(node), message: "source.tables must be a list of schema.table names")
            }
            for item in sequence {
                let text = try reader.string(item, "source.tables")
                guard let table = TableName(parsing: text) else {
                    throw ConfigurationError(file: file, line: Self.line(item), message: "source.tables: '\(text)' is not schema.table or table")
                }
                tables.append(table)
            }
        }

        let heartbeatMS = try source["heartbeat_interval_ms"].map { try reader.nonNegativeInt($0, "source.heartbeat_interval_ms") } ?? 10_000
        let checkMS = try source["slot_check_interval_ms"].map { try reader.positiveInt($0, "source.slot_check_interval_ms") } ?? 60_000
        let retainedWarning = try source["retained_wal_warning_bytes"].map { try reader.positiveInt($0, "source.retained_wal_warning_bytes") }
        let sourceSettings = SourceOptions(
            dsn: dsn,
            slot: try reader.string(try reader.required(source, "slot", in: sourceNode, section: "source"), "source.slot"),
            publication: try reader.string(try reader.required(source, "publication", in: sourceNode, section: "source"), "source.publication"),
            tables: tables,
            createSlot: try source["create_slot"].map { try reader.bool($0, "source.create_slot") } ?? false,
            createPublication: try source["create_publication"].map { try reader.bool($0, "source.create_publication") } ?? false,
            monitor: .init(heartbeatInterval: heartbeatMS == 0 ? nil : .milliseconds(heartbeatMS), checkInterval: .milliseconds(checkMS),
                           retainedWALWarningBytes: Int64(retainedWarning ?? 1 << 30)),
            hints: .run)

        let journalNode = try reader.required(top, "journal", in: root)
        let journal = try reader.mapping(journalNode, "journal", keys: ["directory", "segment_bytes", "fsync", "retention"])
        var fsyncRecords = 1000
        var fsyncDelayMS = 20
        if let node = journal["fsync"] {
            let fsync = try reader.mapping(node, "journal.fsync", keys: ["max_records", "max_delay_ms"])
            if let n = fsync["max_records"] { fsyncRecords = try reader.positiveInt(n, "journal.fsync.max_records") }
            if let n = fsync["max_delay_ms"] { fsyncDelayMS = try reader.positiveInt(n, "journal.fsync.max_delay_ms") }
        }
        var retentionBytes: Int?
        var retentionHours: Int?
        if let node = journal["retention"] {
            let retention = try reader.mapping(node, "journal.retention", keys: ["max_bytes", "max_age_hours"])
            if let n = retention["max_bytes"] { retentionBytes = try reader.positiveInt(n, "journal.retention.max_bytes") }
            if let n = retention["max_age_hours"] { retentionHours = try reader.positiveInt(n, "journal.retention.max_age_hours") }
        }

        let sinkNode = try reader.required(top, "sink", in: root)
        let sink = try reader.mapping(sinkNode, "sink", keys: ["file"])
        guard let fileNode = sink["file"] else {
            throw ConfigurationError(file: file, line: Self.line(sinkNode), message: "sink needs a kind; the one available is file: { path: … }")
        }
        let fileSink = try reader.mapping(fileNode, "sink.file", keys: ["path"])
        let schemas = try top["schemas"].map { try reader.mapping($0, "schemas", keys: ["directory", "on_new_version", "tables"]) }

        return RunConfiguration(
            source: sourceSettings,
            journal: JournalSettings(
                directory: reader.path(try reader.string(try reader.required(journal, "directory", in: journalNode, section: "journal"), "journal.directory")),
                segmentBytes: try journal["segment_bytes"].map { try reader.positiveInt($0, "journal.segment_bytes") } ?? 64 << 20,
                fsyncMaxRecords: fsyncRecords, fsyncMaxDelay: .milliseconds(fsyncDelayMS),
                retentionBytes: retentionBytes, retentionAge: retentionHours.map { .seconds($0 * 3600) }),
            sink: FileSinkSettings(path: reader.path(try reader.string(try reader.required(fileSink, "path", in: fileNode, section: "sink.file"), "sink.file.path"))),
            privacy: try top["privacy"].map { try reader.privacy($0) },
            schemaRegistry: reader.path(try schemas?["directory"].map { try reader.string($0, "schemas.directory") } ?? "Schemas"),
            schemaVersionPolicy: try schemas.map { try reader.schemaVersionPolicy($0) } ?? SchemaVersionPolicy())
    }

    static func line(_ node: Node) -> Int? { node.mark.map { $0.line } }

    /// Walks the node tree with checks that name the file and line of every mistake.
    struct Reader {
        let file: String
        let base: String
        let environment: [String: String]

        func fail(_ node: Node, _ message: String) -> ConfigurationError {
            ConfigurationError(file: file, line: RunConfiguration.line(node), message: message)
        }

        /// A mapping whose keys are all among `keys` (a typo is an error, not silently ignored).
        func mapping(_ node: Node, _ name: String, keys: [String]) throws -> [String: Node] {
            guard case .mapping(let mapping) = node else { throw fail(node, "\(name) must be a mapping of \(keys.joined(separator: ", "))") }
            var result: [String: Node] = [:]
            for (key, value) in mapping {
                guard let key = key.string, keys.contains(key) else {
                    throw fail(key, "unknown key '\(key.string ?? "?")' in \(name); the keys are \(keys.joined(separator: ", "))")
                }
                result[key] = value
            }
            return result
        }

        func required(_ mapping: [String: Node], _ key: String, in node: Node, section: String? = nil) throws -> Node {
            guard let value = mapping[key] else {
                throw fail(node, "\(section.map { "\($0) needs" } ?? "missing section:") \(key)")
            }
            return value
        }

        func string(_ node: Node, _ name: String) throws -> String {
            guard case .scalar(let scalar) = node, !scalar.string.isEmpty else { throw fail(node, "\(name) must be a non-empty string") }
            return scalar.string
        }

        func positiveInt(_ node: Node, _ name: String) throws -> Int {
            guard let value = node.int, value > 0 else { throw fail(node, "\(name) must be a positive whole number") }
            return value
        }

        func nonNegativeInt(_ node: Node, _ name: String) throws -> Int {
            guard let value = node.int, value >= 0 else { throw fail(node, "\(name) must be a whole number, 0 or more") }
            return value
        }

        func bool(_ node: Node, _ name: String) throws -> Bool {
            guard let value = node.bool else { throw fail(node, "\(name) must be true or false") }
            return value
        }

        func schemaVersionPolicy(_ schemas: [String: Node]) throws -> SchemaVersionPolicy {
            func action(_ node: Node, _ name: String) throws -> SchemaVersionPolicy.Action {
                guard let action = SchemaVersionPolicy.Action(rawValue: try string(node, name)) else {
                    throw fail(node, "\(name) must be continue (record the new version and deliver) or hold (deliver nothing of the table until `pgreflex schema accept`)")
                }
                return action
            }
            var policy = SchemaVersionPolicy(defaultAction: try schemas["on_new_version"].map { try action($0, "schemas.on_new_version") } ?? .continue)
            if let node = schemas["tables"] {
                guard case .mapping(let entries) = node else {
                    throw fail(node, "schemas.tables must map schema.table to { on_new_version: continue|hold }")
                }
                for (key, value) in entries {
                    let table = try string(key, "schemas.tables")
                    guard let name = TableName(parsing: table) else { throw fail(key, "schemas.tables: '\(table)' is not schema.table or table") }
                    let entry = try mapping(value, "schemas.tables.\(table)", keys: ["on_new_version"])
                    let setting = try required(entry, "on_new_version", in: value, section: "schemas.tables.\(table)")
                    policy.tables["\(name.schema).\(name.name)"] = try action(setting, "schemas.tables.\(table).on_new_version")
                }
            }
            return policy
        }

        func path(_ value: String) -> String {
            value.hasPrefix("/") || base.isEmpty ? value : URL(fileURLWithPath: base + "/" + value).standardized.path
        }
    }
}

/// A configuration mistake: the file, the line, and what to fix. Never echoes a DSN.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var message: String

    /// Never: the file needs an edit.
    public var isRetryable: Bool { false }

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(message)"
    }
}

extension RunConfiguration.JournalSettings {
    public var options: Journal.Options {
        Journal.Options(directory: directory, segmentBytes: segmentBytes,
                        retention: .init(maxBytes: retentionBytes, maxAge: retentionAge))
    }
}
