import ArgumentParser
import Foundation
import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexDelivery
import PGReflexRouter
import PGReflexRuntime
import PGReflexSnapshot
import PGReflexState
import PGReflexTransport
import PGReflexWire

/// `pgreflex snapshot`: incremental snapshots (DBLog) that a running `run` reads alongside the
/// stream. The commands only write to the state store; `run` picks changes up within a second.
struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Read existing rows into the pipeline while it streams: start, watch, pause, resume and cancel incremental snapshots.",
        subcommands: [Start.self, Status.self, Pause.self, Resume.self, Cancel.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue an incremental snapshot of some tables; a running `pgreflex run` reads it in chunks between watermarks.",
            discussion: discussion(example: "pgreflex snapshot start --config run.yaml --tables public.orders --where \"created_at > now() - interval '7 days'\" --route fraud_check",
                                   doc: "docs/snapshots.md"))
        @Option(help: "The YAML configuration file `run` uses.") var config: String
        @Option(help: "Tables to read, in order (schema.table, comma-separated).") var tables: String
        @Option(name: .customLong("where"), help: "Read only rows meeting this SQL condition.") var condition: String?
        @Option(help: "Rows per chunk (1 to 100000).") var chunkSize = 1024
        @Option(help: "Deliver the reads to this route only; no other route or consumer sees them.") var route: String?
        @Option(help: "Read at most this many rows per second.") var maxRowsPerSecond: Int?
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard (1...100_000).contains(chunkSize) else {
                throw ValidationError("--chunk-size \(chunkSize) is out of range: give 1 to 100000 rows (1024 is a good start)")
            }
            if let maxRowsPerSecond, maxRowsPerSecond < 1 {
                throw ValidationError("--max-rows-per-second must be 1 or more; leave it out to read as fast as the stream allows")
            }
        }

        func run() async throws {
            try await global.run {
                var names: [TableName] = []
                for part in tables.split(separator: ",") {
                    guard let name = TableName(parsing: part.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("--tables: '\(part)' is not a table name; write schema.table, comma-separated")
                    }
                    names.append(name)
                }
                guard !names.isEmpty else { throw ValidationError("--tables names no table; write schema.table, comma-separated") }
                let job = try await RunConfiguration.load(config).queueSnapshot(
                    tables: names, condition: condition, chunkSize: chunkSize, route: route, maxRowsPerSecond: maxRowsPerSecond,
                    file: config, logger: Logger(label: "pgreflex.snapshot"))
                print("snapshot \(job.id) queued: \(job.tables.joined(separator: ", "))\(route.map { " for route \($0) only" } ?? "")")
                print("a running `pgreflex run --config \(config)` picks it up within a second; watch it with `pgreflex snapshot status --config \(config)`")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each snapshot: its state, the table it is on, rows and chunks read.",
            discussion: discussion(example: "pgreflex snapshot status --config run.yaml", doc: "docs/snapshots.md"))
        @Option(help: "The YAML configuration file `run` uses.") var config: String
        @Option(help: "text or json (one object per line).") var format: DLQCommand.Format = .text
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run {
                let configuration = try RunConfiguration.load(config, requireEnvironment: false)
                let jobs = try await SQLiteStateStore.openExisting(directory: configuration.stateDirectory)?.snapshots() ?? []
                if format == .json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = .sortedKeys
                    for job in jobs { print(String(decoding: try encoder.encode(job), as: UTF8.self)) }
                    return
                }
                if jobs.isEmpty {
                    print("no snapshots: start one with `pgreflex snapshot start --config \(config) --tables …`")
                    return
                }
                for job in jobs { print(SnapshotCommand.line(job)) }
            }
        }
    }

    /// One snapshot on one line, for `snapshot status` and `pgreflex status`.
    static func line(_ job: SnapshotJob) -> String {
        let table = job.currentTable.map { "on \($0) (\(job.progress.tableIndex + 1)/\(job.tables.count))" } ?? "all \(job.tables.count) table(s) read"
        return "snapshot \(job.id) \(job.kind.rawValue) \(job.state.rawValue): \(table), \(job.progress.rows) rows in \(job.progress.chunks) chunks"
            + (job.route.map { ", route \($0) only" } ?? "") + (job.condition.map { ", where \($0)" } ?? "")
            + ", updated \(DLQCommand.time(job.updatedAt))" + (job.error.map { ", error: \($0)" } ?? "")
    }

    /// Moves the given (or the active) snapshot from one of `from` to `to`.
    static func transition(config: String, id: Int64?, from: Set<SnapshotJob.State>, to: SnapshotJob.State, verb: String) async throws {
        let configuration = try RunConfiguration.load(config, requireEnvironment: false)
        let store = try SQLiteStateStore.openExisting(directory: configuration.stateDirectory)
        let jobs = try await store?.snapshots() ?? []
        guard let store, let job = id.map({ id in jobs.first { $0.id == id } }) ?? jobs.first(where: { !$0.state.isFinal }) else {
            throw ValidationError(id.map { "no snapshot \($0): `pgreflex snapshot status` lists them" } ?? "no snapshot is running or waiting: nothing to \(verb)")
        }
        guard try await store.transitionSnapshot(id: job.id, from: from, to: to, error: nil) else {
            throw ValidationError("snapshot \(job.id) is \(job.state.rawValue): it cannot be \(verb)d from that state")
        }
        print("snapshot \(job.id) \(to.rawValue)\(to == .cancelled ? "; rows already delivered stay delivered" : "")")
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause a snapshot after its chunk in hand; streaming goes on.")
        @Option(help: "The YAML configuration file `run` uses.") var config: String
        @Option(help: "The snapshot (default: the one running or waiting).") var id: Int64?
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await global.run { try await SnapshotCommand.transition(config: config, id: id, from: [.pending, .running], to: .paused, verb: "pause") }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused snapshot from its last chunk.")
        @Option(help: "The YAML configuration file `run` uses.") var config: String
        @Option(help: "The snapshot (default: the paused one).") var id: Int64?
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await global.run { try await SnapshotCommand.transition(config: config, id: id, from: [.paused], to: .running, verb: "resume") }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a snapshot: its open chunk is dropped, nothing more is read.")
        @Option(help: "The YAML configuration file `run` uses.") var config: String
        @Option(help: "The snapshot (default: the one running or waiting).") var id: Int64?
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            try await global.run { try await SnapshotCommand.transition(config: config, id: id, from: [.pending, .running, .paused], to: .cancelled, verb: "cancel") }
        }
    }
}
