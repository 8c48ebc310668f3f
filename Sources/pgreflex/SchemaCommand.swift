import PGReflexWire
import Foundation
import ArgumentParser
import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexEnvelope
import PGReflexSchema
import PGReflexTransport

struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "The Schemas/ registry: snapshot a database into it, check a database or registry against it, accept pending versions.",
        subcommands: [Snapshot.self, Check.self, Pending.self, Accept.self])

    struct Snapshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the live tables' schemas into the registry: a new version for each changed shape, nothing for the rest.",
            discussion: discussion(example: "PGREFLEX_DSN=\"$DATABASE_URL\" pgreflex schema snapshot --registry Schemas --privacy run.yaml",
                                   doc: "docs/schemas.md"))

        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Tables as schema.table (comma-separated). Default: every table outside the system schemas.",
                transform: parseTables) var tables: [TableName] = []
        @Option(help: "The registry directory.") var registry = "Schemas"
        @Option(help: "Apply the privacy section of this YAML file: protected columns are recorded as strings, dropped ones left out.")
        var privacy: String?
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run {
                let policy = try privacy.map { try RunConfiguration.loadPrivacy($0) }
                let schemas = try await liveSchemas(dsn: try connection.resolved(), tables: tables).map { $0.protected(by: policy) }
                try SchemaRegistry.update(directory: registry) { store in
                    for schema in schemas {
                        let (version, isNew) = store.record(schema)
                        let pending = store.tables[schema.qualifiedName]?.pending?.contains(version) == true
                        print("\(schema.qualifiedName)\tv\(version)\t"
                            + (isNew ? "new version" : "unchanged") + (pending ? ", pending: review it with `pgreflex schema pending`" : ""))
                    }
                }
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare a live database (after its migrations ran) or another registry with the registry, under each table's compatibility mode. Exits 1 on a break.",
            discussion: discussion(example: "PGREFLEX_DSN=\"$DATABASE_URL\" pgreflex schema check --registry Schemas --require-registered",
                                   doc: "docs/schemas.md (In CI: stop a breaking migration)"))

        @OptionGroup(title: "The database to check (or --against)") var connection: ConnectionOptions
        @Option(help: "Check the latest versions in this other registry directory.") var against: String?
        @Option(help: "Only these tables (comma-separated schema.table).", transform: parseTables) var tables: [TableName] = []
        @Option(help: "The registry to check against.") var registry = "Schemas"
        @Option(help: "text or json.") var format: Format = .text
        @Option(help: "Apply the privacy section of this YAML file to the live tables, as snapshot --privacy did.")
        var privacy: String?
        @Flag(help: "Pass with a registry that holds no table yet (a first migration); without it an empty registry is an error.")
        var allowEmpty = false
        @Flag(help: "Fail when a checked table is not in the registry (a table added without `schema snapshot`).")
        var requireRegistered = false
        @Option(help: "Also check this run configuration's routes and prompt templates against the checked tables: a column they read that is gone, or a comparison its new type breaks, is a break at its file:line.")
        var config: String?
        @OptionGroup var global: GlobalOptions

        enum Format: String, ExpressibleByArgument { case text, json }

        static func json(_ error: ConfigurationError) -> [String: Any] {
            ["file": error.file, "line": error.line ?? NSNull(), "column": error.column ?? NSNull(), "message": error.message]
        }

        func validate() throws {
            if connection.dsn != nil && against != nil { throw ValidationError("give one of --dsn (a database) or --against (a registry directory), not both") }
        }

        func run() async throws {
            try await global.run {
                let report: SchemaCheck
                // A missing or mistyped registry must not pass the CI gate while checking nothing.
                try requireRegistry(registry)
                let store = try SchemaRegistry(directory: registry)
                if store.tables.isEmpty && !allowEmpty {
                    throw SchemaRegistryError(file: registry, message: "holds no table: nothing would be checked. Record the tables "
                        + "with `pgreflex schema snapshot --registry \(registry)` and commit them, or pass --allow-empty")
                }
                let configuration = try config.map { try RunConfiguration.load($0, requireEnvironment: false) }
                var candidates: [TableSchema]
                if against == nil {
                    // The envelopes' shapes: the configuration's privacy applies unless --privacy names another.
                    let policy = try privacy.map { try RunConfiguration.loadPrivacy($0) } ?? configuration?.privacy
                    candidates = try await liveSchemas(dsn: try connection.resolved(), tables: tables).map { $0.protected(by: policy) }
                } else {
                    let other = try SchemaRegistry(directory: against!)
                    candidates = other.tables.values.compactMap(\.versions.last)
                    if !tables.isEmpty {
                        let wanted = Set(tables.map(\.description))
                        candidates = candidates.filter { wanted.contains($0.qualifiedName) }
                    }
                }
                report = SchemaCheck(candidates: candidates, registry: store, onlyListed: !tables.isEmpty)
                // The routes and templates against the tables as checked, each at the version the
                // registry gives its shape (a new one numbered after the last).
                var scratch = store
                let routeFindings = configuration?.findings(against: Dictionary(candidates.map { schema in
                    (schema.qualifiedName, SchemaRegistry.Current(version: scratch.record(schema).version, schema: schema))
                }) { first, _ in first })
                switch format {
                case .text:
                    print(report.text, terminator: "")
                    if let routeFindings, let config {
                        for error in routeFindings.errors { print("BREAKING \(error)") }
                        for warning in routeFindings.warnings { print("warning  \(warning)") }
                        print(routeFindings.errors.isEmpty ? "schema check: the routes and templates of \(config) read only what the tables have"
                              : "schema check: \(routeFindings.errors.count) break\(routeFindings.errors.count == 1 ? "" : "s") in the routes and templates of \(config)")
                    }
                case .json:
                    guard let routeFindings else { print(report.json); break }
                    var object = (try? JSONSerialization.jsonObject(with: Data(report.json.utf8))) as? [String: Any] ?? [:]
                    object["route_breaks"] = routeFindings.errors.map(Self.json)
                    object["route_warnings"] = routeFindings.warnings.map(Self.json)
                    object["compatible"] = !report.breaks && routeFindings.errors.isEmpty
                    print(String(decoding: (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(), as: UTF8.self))
                }
                if !(routeFindings?.errors.isEmpty ?? true) { throw ExitCode(1) }
                if report.breaks || (requireRegistered && !report.newTables.isEmpty) { throw ExitCode(1) }
            }
        }
    }

    struct Pending: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the versions `run` recorded as pending (schemas.on_new_version: hold), each with its changes: the events of these tables are held.",
            discussion: discussion(example: "pgreflex schema pending --registry Schemas", doc: "docs/schemas.md"))

        @Option(help: "The registry directory (the run configuration's schemas.directory).") var registry = "Schemas"
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run {
                let store: SchemaRegistry
                try requireRegistry(registry)
                store = try SchemaRegistry(directory: registry)
                var any = false
                for name in store.tables.keys.sorted() {
                    guard let pending = store.tables[name]!.pending else { continue }
                    any = true
                    for version in pending { printReview(store, table: name, version: version) }
                }
                if !any { print("no pending versions in \(registry)") }
            }
        }
    }

    struct Accept: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept a table's pending schema versions: a running `pgreflex run` then delivers the events it held, in order.",
            discussion: discussion(example: "pgreflex schema accept --registry Schemas --table public.orders --version 2", doc: "docs/schemas.md"))

        @Option(help: "The table, as schema.table.") var table: String
        @Option(help: "Accept the pending versions up to this one (default: all of them).") var version: Int?
        @Option(help: "The registry directory (the run configuration's schemas.directory).") var registry = "Schemas"
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run {
                let name = TableName(parsing: table)?.description ?? table
                try requireRegistry(registry)
                let (store, accepted) = try SchemaRegistry.update(directory: registry) { store in
                    (store, try store.accept(table: name, through: version))
                }
                for version in accepted { printReview(store, table: name, version: version) }
                print("accepted \(name) v\(accepted.lowerBound)\(accepted.count > 1 ? " through v\(accepted.upperBound)" : ""): "
                    + "a running `pgreflex run` delivers its held events within a few seconds; commit \(registry) to keep the review")
            }
        }
    }
}

/// A registry that is not there is a mistake (a wrong --registry), not an empty registry.
func requireRegistry(_ directory: String) throws {
    guard FileManager.default.fileExists(atPath: directory + "/" + SchemaRegistry.indexName) else {
        throw SchemaRegistryError(file: directory, message: "holds no \(SchemaRegistry.indexName): create the registry with "
            + "`pgreflex schema snapshot --registry \(directory)` (it reads the tables' shapes from the database; commit what it writes), "
            + "or pass the registry directory you have (the run configuration's schemas.directory)")
    }
}

/// One pending (or just accepted) version with its changes against the versions before it.
private func printReview(_ store: SchemaRegistry, table: String, version: Int) {
    let entry = store.tables[table]!
    let state = entry.pending?.contains(version) == true ? "pending" : "accepted"
    print("\(table) v\(version) (\(state)): \(store.directory)/\(table)/v\(version).json")
    let review = SchemaCheck(version: version, of: table, in: store)
    if version == 1 {
        print("  the table's first version: no earlier one to compare with")
    } else if review.findings.isEmpty {
        print("  no change the compatibility rules cover, against v\(version - 1)")
    }
    for line in review.lines { print("  " + line) }
}

func liveSchemas(dsn: String, tables: [TableName]) async throws -> [TableSchema] {
    try await PostgresConnection.withConnection(dsn, mode: .sql, logger: Logger(label: "pgreflex.schema")) { connection in
        try await RelationCatalog(connection: connection).tableSchemas(tables)
    }
}
