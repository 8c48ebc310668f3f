import ArgumentParser
import Foundation
import Logging
import PGReflexAgentContract
import PGReflexConfig
import PGReflexDelivery
import PGReflexRouter
import PGReflexRuntime
import PGReflexState
import PGReflexWire

struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Look at, retry and drop dead letters: events an agent could not handle.",
        subcommands: [List.self, Show.self, Retry.self, Drop.self])

    /// The filters `list` and `drop` share.
    struct Filters: ParsableArguments {
        @Option(help: "The YAML configuration file (its state.directory holds the queue).") var config: String
        @Option(help: "Only this route.") var route: String?
        @Option(help: "Only this agent.") var agent: String?
        @Option(help: "Only this table (schema.table).") var table: String?
        @Option(help: "Only entries last tried at or after this time (RFC 3339).") var since: String?
        @Option(help: "Only entries last tried before this time (RFC 3339).") var until: String?

        func filter(limit: Int? = nil) throws -> DeadLetterFilter {
            DeadLetterFilter(route: route, agent: agent, table: table, since: try DLQCommand.micros(since, "--since"),
                             until: try DLQCommand.micros(until, "--until"), limit: limit)
        }

        func store() throws -> SQLiteStateStore {
            try DLQCommand.store(config: config, nothing: "nothing has been dead-lettered with this configuration")
        }
    }

    /// An RFC 3339 flag as Unix microseconds.
    static func micros(_ text: String?, _ flag: String) throws -> Int64? {
        guard let text else { return nil }
        guard let date = ISO8601DateFormatter().date(from: text) else {
            throw ValidationError("\(flag) \(text) is not an RFC 3339 time such as 2026-11-30T09:00:00Z")
        }
        return Int64(date.timeIntervalSince1970 * 1e6)
    }

    /// The configuration's state store, which must exist: these commands never create one.
    static func store(config: String, nothing: String) throws -> SQLiteStateStore {
        let configuration = try RunConfiguration.load(config, requireEnvironment: false)
        guard let store = try SQLiteStateStore.openExisting(directory: configuration.stateDirectory) else {
            throw ValidationError("no state store in \(configuration.stateDirectory) (state.directory): \(nothing)")
        }
        return store
    }

    enum Format: String, ExpressibleByArgument {
        case text, json
    }

    static func time(_ micros: Int64) -> String { PostgresTimestamp(unixMicroseconds: micros).iso8601 }

    static func json(_ letter: DeadLetter, envelope: Bool) -> String {
        var object: [String: Any] = [
            "id": letter.id ?? 0, "event_id": letter.eventID, "route": letter.route, "agent": letter.agent, "table": letter.table,
            "error_class": letter.errorClass, "message": letter.message, "attempts": letter.attempts,
            "first_attempt": time(letter.firstAttempt), "last_attempt": time(letter.lastAttempt),
        ]
        if envelope, let value = try? JSONSerialization.jsonObject(with: Data(letter.envelope)) { object["envelope"] = value }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List dead letters, oldest first.",
            discussion: discussion(example: "pgreflex dlq list --config run.yaml --route fraud_check --since 2026-11-30T00:00:00Z", doc: "docs/routing.md"))
        @OptionGroup var filters: Filters
        @Option(help: "At most this many.") var limit: Int?
        @Option(help: "text or json (one object per line).") var format: Format = .text
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run {
                let letters = try await filters.store().deadLetters(try filters.filter(limit: limit))
                if format == .json {
                    for letter in letters { print(DLQCommand.json(letter, envelope: false)) }
                    return
                }
                print("id\troute\tagent\ttable\tevent\terror_class\tattempts\tlast_attempt\tmessage")
                for l in letters {
                    print(["\(l.id ?? 0)", l.route, l.agent, l.table, l.eventID, l.errorClass, "\(l.attempts)", DLQCommand.time(l.lastAttempt), l.message]
                        .joined(separator: "\t"))
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one dead letter with its envelope (JSON).",
            discussion: discussion(example: "pgreflex dlq show --config run.yaml --id 12", doc: "docs/routing.md"))
        @Option(help: "The YAML configuration file.") var config: String
        @Option(help: "The dead letter's id (dlq list).") var id: Int64
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run {
                let filters = try Filters.parse(["--config", config])
                guard let letter = try await filters.store().deadLetters(DeadLetterFilter(id: id)).first else {
                    throw ValidationError("no dead letter \(id): `pgreflex dlq list` shows the ids")
                }
                print(DLQCommand.json(letter, envelope: true))
            }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove dead letters (one by --id, or all that match the filters) without running them.",
            discussion: discussion(example: "pgreflex dlq drop --config run.yaml --route fraud_check --yes", doc: "docs/routing.md"))
        @OptionGroup var filters: Filters
        @Option(help: "Only this dead letter.") var id: Int64?
        @Flag(help: "Really remove them (without it, only count them).") var yes = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run {
                let store = try filters.store()
                var filter = try filters.filter()
                filter.id = id
                let letters = try await store.deadLetters(filter)
                guard yes else {
                    print("would drop \(letters.count) dead letters; run again with --yes")
                    return
                }
                var dropped = 0
                for letter in letters where try await store.removeDeadLetter(id: letter.id ?? -1) { dropped += 1 }
                print("dropped \(dropped) dead letters")
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run dead letters again through their route's agent, with the same idempotency key; those that succeed leave the queue.",
            discussion: discussion("Fix the cause first (the agent, its configuration, the data). Each letter runs once, now; one that fails again stays, with the new error printed.",
                                   example: "pgreflex dlq retry --config run.yaml --id 12", doc: "docs/routing.md (The dead-letter queue)"))
        @OptionGroup var filters: Filters
        @Option(help: "Only this dead letter.") var id: Int64?
        @Flag(help: "Ask the agent to decide again instead of carrying out the decision it recorded; the new decision's actions get new keys (<call key>:d<n>:<i>).")
        var redecide = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run {
                let logger = Logger(label: "pgreflex.dlq")
                let configuration = try RunConfiguration.load(filters.config, requireEnvironment: false)
                let store = try filters.store()
                var filter = try filters.filter()
                filter.id = id
                let letters = try await store.deadLetters(filter)
                guard !letters.isEmpty else { throw ValidationError("no dead letters match: `pgreflex dlq list` shows them") }
                var failed = 0
                for (letter, outcome) in try await configuration.retry(letters, store: store, file: filters.config, redecide: redecide, logger: logger) {
                    switch outcome {
                    case .success:
                        print("\(letter.id ?? 0)\t\(letter.eventID)\tdone")
                    case .failure(let error):
                        failed += 1
                        print("\(letter.id ?? 0)\t\(letter.eventID)\tfailed again: \(error)")
                    }
                }
                if failed > 0 { throw ExitCode(1) }
            }
        }
    }
}
