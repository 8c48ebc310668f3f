import ArgumentParser
import Logging
import PGReflexTransport
import PGReflexWire

struct SlotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slot",
        abstract: "Create, show or drop a logical replication slot.",
        subcommands: [Create.self, Show.self, Drop.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a pgoutput slot and print its consistent point.")
        @Option(help: "libpq connection string or postgresql:// URI.") var dsn: String
        @Option(help: "Slot name.") var slot: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            global.bootstrapLogging()
            do {
                let connection = try await PostgresConnection.connect(dsn, logger: Logger(label: "pgreflex.slot"))
                let created = try await connection.createSlot(slot)
                print("\(created.name) \(created.consistentPoint)")
            } catch {
                throw fail(error)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a slot's state.")
        @Option(help: "libpq connection string or postgresql:// URI.") var dsn: String
        @Option(help: "Slot name.") var slot: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            global.bootstrapLogging()
            do {
                let connection = try await PostgresConnection.connect(dsn, logger: Logger(label: "pgreflex.slot"))
                guard let info = try await connection.slot(named: slot) else {
                    throw ReplicationError(code: .slotNotFound, message: "replication slot \"\(slot)\" does not exist")
                }
                print("""
                    slot: \(info.name)
                    plugin: \(info.plugin ?? "-")
                    active: \(info.active)\(info.activePID.map { " (pid \($0))" } ?? "")
                    restart_lsn: \(info.restartLSN.map(\.description) ?? "-")
                    confirmed_flush_lsn: \(info.confirmedFlushLSN.map(\.description) ?? "-")
                    wal_status: \(info.walStatus ?? "-")
                    """)
            } catch {
                throw fail(error)
            }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop a slot (waits for an active consumer with --wait).")
        @Option(help: "libpq connection string or postgresql:// URI.") var dsn: String
        @Option(help: "Slot name.") var slot: String
        @Flag(help: "Wait until the slot is no longer active.") var wait = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            global.bootstrapLogging()
            do {
                let connection = try await PostgresConnection.connect(dsn, logger: Logger(label: "pgreflex.slot"))
                try await connection.dropSlot(slot, wait: wait)
            } catch {
                throw fail(error)
            }
        }
    }
}
