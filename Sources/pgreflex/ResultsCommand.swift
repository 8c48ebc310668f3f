import ArgumentParser
import Foundation
import PGReflexState

/// `pgreflex results`: what agents answered. Each successful call that returned an outcome (a
/// webhook's JSON response, an `exec` command's stdout, an LLM agent's decision) is kept in the
/// state store with its route, event and idempotency key: the receipt of what the agent decided.
struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract: "Look at agents' outcomes: the JSON each call returned.",
        subcommands: [List.self, Show.self])

    static func json(_ result: AgentResult, output: Bool) -> String {
        var object: [String: Any] = [
            "id": result.id ?? 0, "route": result.route, "agent": result.agent, "event_id": result.eventID, "event_count": result.eventCount,
            "idempotency_key": result.idempotencyKey, "attempt": result.attempt, "at": DLQCommand.time(result.at),
            "duration_ms": Double(result.durationMicros) / 1000,
        ]
        if output, let value = try? JSONSerialization.jsonObject(with: Data(result.output), options: [.fragmentsAllowed]) { object["output"] = value }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List outcomes, oldest first.",
            discussion: discussion(example: "pgreflex results list --config run.yaml --route fraud_check --since 2026-11-30T00:00:00Z", doc: "docs/agents.md"))
        @Option(help: "The YAML configuration file (its state.directory holds the outcomes).") var config: String
        @Option(help: "Only this route.") var route: String?
        @Option(help: "Only this agent.") var agent: String?
        @Option(help: "Only the call whose (first) event this is.") var event: String?
        @Option(help: "Only outcomes recorded at or after this time (RFC 3339).") var since: String?
        @Option(help: "Only outcomes recorded before this time (RFC 3339).") var until: String?
        @Option(help: "At most this many.") var limit: Int?
        @Option(help: "text or json (one object per line, with the output).") var format: DLQCommand.Format = .text
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run {
                let store = try DLQCommand.store(config: config, nothing: "no agent has returned an outcome with this configuration")
                let filter = AgentResultFilter(route: route, agent: agent, eventID: event, since: try DLQCommand.micros(since, "--since"),
                                               until: try DLQCommand.micros(until, "--until"), limit: limit)
                let results = try await store.results(filter)
                if format == .json {
                    for result in results { print(ResultsCommand.json(result, output: true)) }
                    return
                }
                print("id\troute\tagent\tevent\tevents\tattempt\tat\tms\toutput")
                for r in results {
                    let output = String(decoding: r.output.prefix(120), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
                    print(["\(r.id ?? 0)", r.route, r.agent, r.eventID, "\(r.eventCount)", "\(r.attempt)", DLQCommand.time(r.at), String(format: "%.1f", Double(r.durationMicros) / 1000),
                           output + (r.output.count > 120 ? "…" : "")].joined(separator: "\t"))
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one outcome whole (JSON), by its id or its event.",
            discussion: discussion(example: "pgreflex results show --config run.yaml --event 0000000001A2B3C8-00000003", doc: "docs/agents.md"))
        @Option(help: "The YAML configuration file.") var config: String
        @Option(help: "The outcome's id (results list).") var id: Int64?
        @Option(help: "The event the call was for (its first event, for a batch).") var event: String?
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard (id == nil) != (event == nil) else { throw ValidationError("give --id or --event (one of them)") }
        }

        func run() async throws {
            try await global.run {
                let store = try DLQCommand.store(config: config, nothing: "no agent has returned an outcome with this configuration")
                let results = try await store.results(AgentResultFilter(id: id, eventID: event))
                guard !results.isEmpty else {
                    throw ValidationError("no outcome for \(id.map { "id \($0)" } ?? "event \(event ?? "")"): `pgreflex results list` shows them")
                }
                for result in results { print(ResultsCommand.json(result, output: true)) }
            }
        }
    }
}
