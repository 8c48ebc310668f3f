import ArgumentParser
import Logging
import PGReflexTransport
import PGReflexWire

struct SlotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slot",
        abstract: "Create, show or drop a logical replication slot.",
        subcommands: [Create.self, Show.self, Drop.self])

    /// What every slot subcommand takes, and the one way they connect.
    struct Options: ParsableArguments {
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Slot name.") var slot: String
        @OptionGroup var global: GlobalOptions

        /// Connects, runs `body`, and turns any error into the standard message and exit code.
        func withConnection(_ body: (PostgresConnection) async throws -> Void) async throws {
            try await global.run {
                try await PostgresConnection.withConnection(try connection.resolved(), logger: Logger(label: "pgreflex.slot"), body)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a pgoutput slot and print its consistent point.",
            discussion: discussion(example: "PGREFLEX_DSN=\"host=/tmp dbname=app user=app\" pgreflex slot create --slot app_slot", doc: "docs/cli.md, docs/delivery.md"))
        @OptionGroup var options: Options

        func run() async throws {
            try await options.withConnection { connection in
                let created = try await connection.createSlot(options.slot)
                print("\(created.name) \(created.consistentPoint)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a slot's state.",
            discussion: discussion(example: "PGREFLEX_DSN=\"host=/tmp dbname=app user=app\" pgreflex slot show --slot app_slot", doc: "docs/delivery.md"))
        @OptionGroup var options: Options

        func run() async throws {
            try await options.withConnection { connection in
                guard let info = try await connection.slot(named: options.slot) else {
                    throw PostgresError(code: .slotNotFound, message: "replication slot \"\(options.slot)\" does not exist")
                }
                print("""
                    slot: \(info.name)
                    plugin: \(info.plugin ?? "-")
                    active: \(info.active)\(info.activePID.map { " (pid \($0))" } ?? "")
                    restart_lsn: \(info.restartLSN.map(\.description) ?? "-")
                    confirmed_flush_lsn: \(info.confirmedFlushLSN.map(\.description) ?? "-")
                    wal_status: \(info.walStatus ?? "-")
                    """)
            }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop a slot (waits for an active consumer with --wait).",
            discussion: discussion(example: "PGREFLEX_DSN=\"host=/tmp dbname=app user=app\" pgreflex slot drop --slot app_slot --wait", doc: "docs/cli.md, docs/delivery.md"))
        @OptionGroup var options: Options
        @Flag(help: "Wait until the slot is no longer active.") var wait = false

        func run() async throws {
            try await options.withConnection { connection in
                try await connection.dropSlot(options.slot, wait: wait)
            }
        }
    }
}
