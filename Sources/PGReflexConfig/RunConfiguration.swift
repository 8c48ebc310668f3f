import Foundation
import Logging
import PGReflexAgentContract
public import PGReflexAgents
import PGReflexFiles
public import PGReflexJournal
public import PGReflexPrivacy
public import PGReflexRouter
public import PGReflexSchema
public import PGReflexSnapshot
public import PGReflexStatus
public import PGReflexTools
public import PGReflexTransport
import PGReflexWire
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
///   snapshot: initial              # or never (the default) or initial_only: read the tables when the slot is created
///   snapshot_chunk_size: 1024
/// journal:
///   directory: ./journal           # relative paths are relative to this file
///   segment_bytes: 67108864
///   fsync: { max_records: 1000, max_delay_ms: 20 }   # and whenever the input runs dry
///   retention: { max_bytes: 10737418240, max_age_hours: 168 }
/// sink:                            # the consumer named "sink"
///   file: { path: ./events.jsonl }
///   start: earliest                # with no cursor yet: earliest, latest, or an LSN
///   on_journal_full: pause         # or drop_oldest: skip (count, log) what the size bound removes
/// consumers:                       # more consumers, each with its own cursor and pace
///   audit:
///     file: { path: ./audit.jsonl }
///     start: latest
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

    public var source: SourceOptions
    public var journal: JournalSettings
    /// `sink:` (named `sink`), then `consumers:` in file order.
    public var consumers: [ConsumerSettings]
    /// Column policies and approved columns; see RunConfiguration+Privacy.swift.
    public var privacy: PrivacyPolicy?
    /// The schema registry directory (`schemas.directory`, default `Schemas` beside this file).
    public var schemaRegistry: String
    /// `schemas.on_new_version`, per table.
    public var schemaVersionPolicy: SchemaVersionPolicy
    /// `agents:`, in file order.
    /// Typed tools agents act through (`tools:`).
    public var tools: [ToolSettings]
    public var agents: [AgentSettings]
    /// `routes:`, in file order.
    public var routes: [RouteSettings]
    /// Where each route's `if` starts in the file, by route name.
    /// Where each setting that reads an event's columns starts (`routes.NAME.if`,
    /// `routes.NAME.debounce.key`, `routes.NAME.columns_changed`, `agents.NAME.llm.prompt`, …),
    /// so that `check` and `schema check --config` name the file and line of a break.
    public var settingMarks: [String: ExpressionMark]
    /// `state.directory`: the dispatcher's state store (done records, route cursors, the
    /// dead-letter queue). Default: `state` beside the journal's directory.
    public var stateDirectory: String
    /// The file this was read from, for error messages.
    public var file: String
    /// `server: {host, port}`: the metrics, health and status endpoints; off when absent.
    public var server: ServerSettings? = nil
    /// Where `server` was set, for errors: the file's `server.port`, or a command's flag.
    public var serverSetting = "server.port"
    /// `source.snapshot`: whether `run` reads the tables when it creates the slot.
    public var snapshotMode: SnapshotMode = .never
    /// `source.snapshot_chunk_size`: rows per chunk of the initial snapshot.
    public var snapshotChunkSize = 1024
    /// The `*_env` variables a load with `requireEnvironment: false` found unset, in file order.
    public var unsetEnvironment: [UnsetVariable] = []
    /// `traces.tolerances`: added to every golden trace's own (`trace verify`).
    public var traceTolerances: [TraceTolerance] = []

    /// `requireEnvironment: false` (for commands that read state and call no agent): an unset
    /// `*_env` variable is not an error but an entry of `unsetEnvironment`, its value left empty;
    /// `makeAgents` then refuses the agents that need one.
    public static func load(_ path: String, environment: [String: String]? = nil, requireEnvironment: Bool = true) throws -> RunConfiguration {
        let environment = environment ?? ProcessInfo.processInfo.environment
        let text: String
        switch BoundedFile.text(path, limit: 4 << 20) {
        case .success(let read): text = read
        case .failure(.unreadable): throw ConfigurationError(file: path, line: nil, message: "cannot read the configuration file: does it exist and is it readable (UTF-8)?")
        case .failure(let failure): throw ConfigurationError(file: path, line: nil, message: "the configuration file " + failure.message)
        }
        return try parse(text, file: path, environment: environment, requireEnvironment: requireEnvironment)
    }

    public static func parse(_ text: String, file: String, environment: [String: String] = [:], requireEnvironment: Bool = true) throws -> RunConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, yaml: error, text: text)
        }
        let reader = Reader(file: file, base: ((file as NSString).deletingLastPathComponent as String), environment: environment,
                            requireEnvironment: requireEnvironment)
        guard let root else { throw ConfigurationError(file: file, line: 1, message: "the file is empty: it needs source, journal and sink (or consumers) sections") }
        let top = try reader.mapping(root, "the file", keys: ["source", "journal", "sink", "consumers", "tools", "agents", "routes", "state", "privacy", "schemas", "server", "traces"])

        let sourceNode = try reader.required(top, "source", in: root)
        let source = try reader.mapping(sourceNode, "source",
                                        keys: ["dsn", "dsn_env", "slot", "publication", "tables", "create_slot", "create_publication",
                                               "heartbeat_interval_ms", "slot_check_interval_ms", "retained_wal_warning_bytes",
                                               "snapshot", "snapshot_chunk_size"])
        let dsn: String
        switch (source["dsn"], source["dsn_env"]) {
        case (let node?, nil): dsn = try reader.string(node, "source.dsn")
        case (nil, let node?):
            dsn = try reader.variable(node, setting: "source.dsn_env", owner: .source, hint: "export the connection string") ?? ""
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
                           retainedWALWarningBytes: Int64(retainedWarning ?? 1 << 30)))

        var snapshotMode = SnapshotMode.never
        if let node = source["snapshot"] {
            guard let mode = SnapshotMode(rawValue: try reader.string(node, "source.snapshot")) else {
                throw reader.fail(node, "source.snapshot must be initial, never or initial_only (Debezium's snapshot modes)")
            }
            if mode != .never, !sourceSettings.createSlot {
                throw reader.fail(node, "source.snapshot: \(mode.rawValue) reads the tables in the snapshot the slot exports when pgreflex creates it: set source.create_slot: true (or take an incremental snapshot: pgreflex snapshot start)")
            }
            snapshotMode = mode
        }
        let snapshotChunkSize = try source["snapshot_chunk_size"].map { try reader.positiveInt($0, "source.snapshot_chunk_size") } ?? 1024

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

        var consumers: [ConsumerSettings] = []
        if let node = top["sink"] { consumers.append(try reader.consumer(node, name: "sink", key: "sink")) }
        if let node = top["consumers"] {
            guard case .mapping(let entries) = node else {
                throw ConfigurationError(file: file, line: Self.line(node), message: "consumers must map each consumer's name to { file: { path: … } }")
            }
            for (key, value) in entries {
                let name = try reader.string(key, "consumers")
                guard ConsumerSettings.isValidName(name) else {
                    throw reader.fail(key, "consumers: '\(name)' is not a consumer name: use letters, digits, _ and - (it names the cursor file)")
                }
                guard !consumers.contains(where: { $0.name == name }) else {
                    throw reader.fail(key, "consumers: '\(name)' is taken (sink: is the consumer named sink): pick another name")
                }
                consumers.append(try reader.consumer(value, name: name, key: "consumers.\(name)"))
            }
        }
        let schemas = try top["schemas"].map { try reader.mapping($0, "schemas", keys: ["directory", "on_new_version", "tables"]) }
        let tools = try top["tools"].map { try AgentsSection(reader: reader).tools($0) } ?? []
        let agents = try top["agents"].map { try AgentsSection(reader: reader).agents($0, tools: tools) } ?? []
        let routes = try top["routes"].map { try reader.routes($0, agents: agents) } ?? []
        for agent in agents {
            guard case .file = agent.kind else { continue }
            let users = routes.filter { $0.agent == agent.name }.map(\.name)
            if users.count > 1 {
                throw ConfigurationError(file: file, line: nil, message: "agents.\(agent.name) is a file agent and routes \(users.joined(separator: " and ")) both use it: a file agent serves one route (its lines are its receipts); give each route its own")
            }
        }
        guard !consumers.isEmpty || !routes.isEmpty else {
            throw ConfigurationError(file: file, line: 1, message: "missing section: sink, consumers or routes: say where events are delivered, e.g. sink: { file: { path: ./events.jsonl } }")
        }
        let state = try top["state"].map { try reader.mapping($0, "state", keys: ["directory"]) }
        let server = try top["server"].map { try reader.server($0) }

        let journalDirectory = reader.path(try reader.string(try reader.required(journal, "directory", in: journalNode, section: "journal"), "journal.directory"))
        var configuration = RunConfiguration(
            source: sourceSettings,
            journal: JournalSettings(
                directory: journalDirectory,
                segmentBytes: try journal["segment_bytes"].map { try reader.positiveInt($0, "journal.segment_bytes") } ?? 64 << 20,
                fsyncMaxRecords: fsyncRecords, fsyncMaxDelay: .milliseconds(fsyncDelayMS),
                retentionBytes: retentionBytes, retentionAge: retentionHours.map { .seconds($0 * 3600) }),
            consumers: consumers,
            privacy: try top["privacy"].map { try reader.privacy($0) },
            schemaRegistry: reader.path(try schemas?["directory"].map { try reader.string($0, "schemas.directory") } ?? "Schemas"),
            schemaVersionPolicy: try schemas.map { try reader.schemaVersionPolicy($0) } ?? SchemaVersionPolicy(),
            tools: tools, agents: agents, routes: routes, settingMarks: reader.marks.found,
            stateDirectory: try state?["directory"].map { reader.path(try reader.string($0, "state.directory")) } ?? Self.besideJournal(journalDirectory),
            file: file, server: server)
        configuration.snapshotMode = snapshotMode
        configuration.snapshotChunkSize = snapshotChunkSize
        configuration.traceTolerances = try top["traces"].map { try reader.traceTolerances($0) } ?? []
        configuration.unsetEnvironment = reader.unsetVariables.found
        configuration.serverSetting = "server.port in \(file)"
        return configuration
    }

    static func line(_ node: Node) -> Int? { node.mark.map { $0.line } }

    /// `state` in the directory that holds the journal's.
    static func besideJournal(_ journal: String) -> String {
        guard let slash = journal.lastIndex(of: "/") else { return "state" }
        return String(journal[..<slash]) + "/state"
    }

    /// Walks the node tree with checks that name the file and line of every mistake.
    struct Reader {
        let file: String
        let base: String
        let environment: [String: String]
        let requireEnvironment: Bool
        let unsetVariables = UnsetVariables()
        let marks = SettingMarks()

        func fail(_ node: Node, _ message: String) -> ConfigurationError {
            ConfigurationError(file: file, line: RunConfiguration.line(node), column: node.mark.map { $0.column }, message: message)
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
                    policy.tables[name.description] = try action(setting, "schemas.tables.\(table).on_new_version")
                }
            }
            return policy
        }

        func path(_ value: String) -> String {
            value.hasPrefix("/") || base.isEmpty ? value : URL(fileURLWithPath: base + "/" + value).standardized.path
        }
    }
}

extension RunConfiguration.JournalSettings {
    public var options: Journal.Options {
        Journal.Options(directory: directory, segmentBytes: segmentBytes,
                        retention: .init(maxBytes: retentionBytes, maxAge: retentionAge))
    }
}
