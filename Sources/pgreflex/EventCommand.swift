import ArgumentParser
import Foundation
import PGReflexConfig
import PGReflexRuntime
import PGReflexState
import PGReflexStatus

/// `pgreflex event show`: what happened to a change, from its commit to its receipts, put
/// together from the journal and the state store (the same as the status page's page per change).
struct EventCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "event",
        abstract: "What happened to a change: its place in the journal, each route's verdict, flow control, calls and receipts.",
        subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a change by its event id, or every change of a row the journal still holds, newest first.",
            discussion: discussion(example: "pgreflex event show --config run.yaml --key public.orders:1234", doc: "docs/operations.md"))
        @Option(help: "The YAML configuration file (its journal and state.directory).") var config: String
        @Option(help: "The event's id (0000000001a2b3c8-00000003), as envelopes, logs and dead letters write it.") var id: String?
        @Option(help: "A row: schema.table and its key, the one key column's value or the key as JSON (public.orders:1234, 'public.orders:{\"id\":1234}').")
        var key: String?
        @Option(help: "With --key: at most this many changes.") var limit: Int = 10
        @Option(help: "text or json (one object per change).") var format: DLQCommand.Format = .text
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard (id == nil) != (key == nil) else { throw ValidationError("give --id or --key (one of them)") }
            guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
        }

        var query: ChangeQuery {
            get throws {
                if let id {
                    guard case .id(let parsed)? = ChangeQuery(parsing: id) else {
                        throw ValidationError("--id \(id) is not an event id: 16 hex digits, '-', 8 hex digits (0000000001a2b3c8-00000003)")
                    }
                    return .id(parsed)
                }
                guard let key, key.contains(":"), case .key(let table, let value)? = ChangeQuery(parsing: key) else {
                    throw ValidationError("--key \(key ?? "") is not schema.table:key (public.orders:1234)")
                }
                return .key(table: table, value: value)
            }
        }

        func run() async throws {
            try await global.run {
                let query = try self.query
                let configuration = try RunConfiguration.load(config, requireEnvironment: false)
                guard FileManager.default.fileExists(atPath: configuration.journal.directory) else {
                    throw ValidationError("no journal in \(configuration.journal.directory) (journal.directory): run `pgreflex run --config \(config)` first")
                }
                let store = try SQLiteStateStore.openExisting(directory: configuration.stateDirectory)
                let traces = try await configuration.changeTraces(query, limit: limit, store: store)
                guard !traces.isEmpty else {
                    switch query {
                    case .id(let id): throw ValidationError("the journal holds no change \(id): retention may have removed it (journal inspect shows what it holds)")
                    case .key(let table, let value): throw ValidationError("the journal holds no change of \(table) with key \(value)")
                    }
                }
                for trace in traces {
                    print(format == .json ? trace.json : trace.text)
                }
            }
        }
    }
}
