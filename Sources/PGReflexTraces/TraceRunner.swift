import Foundation
public import Logging
import PGReflexAgentContract
import PGReflexAgents
public import PGReflexConfig
import PGReflexDelivery
import PGReflexJournal
import PGReflexRouter
import PGReflexPrivacy
import PGReflexTools
import PGReflexTransport

/// Runs events through a configuration with side effects off and writes down what happened:
/// each route's verdict with its reason, its flow control, and each call's prompt, decision,
/// actions and receipts (``TraceEntry/expected``), with what the calls were told
/// (``TraceEntry/recorded``).
///
/// Events go in order, one call at a time. Flow control runs on the events' commit times
/// (``RouteFlowSimulation``); a call is written beside the event that made it (the last of its
/// events). Write tools, webhooks and the built-in agents do not run; `exec` agents run with
/// `PGREFLEX_DRY_RUN=1`; LLM agents ask at temperature 0, the model (live inputs) or the
/// recording.
public struct TraceRunner {
    public enum Inputs: Sendable {
        /// Ask the model and run the read tools (read-only), recording what they say.
        case live
        /// Answer from these entries' recordings: no model, no network, no database.
        case recorded([TraceEntry])
    }

    let configuration: RunConfiguration
    let logger: Logger

    public init(configuration: RunConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// What a live run needs from the environment: the agents' own variables (an LLM's URL and
    /// key), and the read tools' (their database). Write tools do not run, so theirs are not needed.
    public func requireEnvironment(live: Bool) throws {
        guard live else { return }
        let wanted = Set(configuration.routes.map(\.agent))
        var owners: [UnsetVariable.Owner] = wanted.map { .agent($0) }
        for agent in configuration.agents where wanted.contains(agent.name) {
            guard case .llm(let settings) = agent.kind else { continue }
            let reads = Set(settings.readTools + settings.enrich.map(\.tool))
            for tool in configuration.tools where reads.contains(tool.name) {
                owners.append(.tool(tool.name))
                if tool.dsn == nil { owners.append(.source) }
            }
        }
        try configuration.requireEnvironment(for: owners, purpose: "recording a trace (its LLM agents and read tools run)")
    }

    public func run(_ events: [TraceEvent], inputs: Inputs) async throws -> [TraceEntry] {
        let tape: TraceTape
        switch inputs {
        case .live: tape = TraceTape(inputs: .live)
        case .recorded(let entries):
            var byCall: [String: Any] = [:]
            for entry in entries { byCall.merge(entry.recorded) { first, _ in first } }
            tape = TraceTape(inputs: .recorded(.init(byCall: byCall)))
        }
        let agents = try makeAgents(tape: tape, live: { if case .live = inputs { true } else { false } }())

        // Verdicts and flow control, over all events first: a debounced event learns only later
        // which event it went into.
        var verdicts: [[String: String]] = []
        var simulations = configuration.routes.map { RouteFlowSimulation(settings: $0, agentName: $0.agent, start: events.first?.commitTime ?? 0) }
        var calls: [(route: Int, call: RouteFlowSimulation.Call)] = []
        for event in events {
            let activation = try? CELValue.activation(envelope: event.envelope)
            var judged: [String: String] = [:]
            let agentEvent = AgentEvent(id: event.id, table: event.table, op: event.op, envelope: event.envelope, commitTime: event.commitTime)
            for (index, route) in configuration.routes.enumerated() {
                let verdict = route.route.verdict(table: event.table, op: event.op) { activation ?? [:] }
                judged[route.name] = verdict == .matches ? "matches" : "no: \(verdict)"
                guard verdict == .matches else { continue }
                calls += simulations[index].add(agentEvent, schemaVersion: event.schemaVersion, keyHash: event.keyHash).map { (index, $0) }
            }
            verdicts.append(judged)
        }
        for index in simulations.indices { calls += simulations[index].finish().map { (index, $0) } }

        // The calls, in the order they were made.
        let position = Dictionary(events.enumerated().map { ($1.id, $0) }) { first, _ in first }
        var callsByEvent: [Int: [String: [[String: Any]]]] = [:]
        var recordedByEvent: [Int: [String: Any]] = [:]
        for (routeIndex, made) in calls {
            let route = configuration.routes[routeIndex]
            let key = made.call.idempotencyKey
            tape.begin(callKey: key)
            let outcome: AgentOutcome = if let agent = agents[route.agent] {
                await agent.handle(made.call)
            } else {
                .failure(AgentError(code: .permanent, message: "routes.\(route.name): no agent \(route.agent)"))
            }
            let recording = tape.recording(key)
            let at = made.call.events.last.flatMap { position[$0.id] } ?? events.count - 1
            callsByEvent[at, default: [:]][route.name, default: []].append(Self.describe(made, agent: route.agent, outcome: outcome, recording: recording))
            var inputs: [String: Any] = [:]
            if !recording.replies.isEmpty { inputs["replies"] = recording.replies }
            if !recording.reads.isEmpty { inputs["reads"] = recording.reads }
            if !inputs.isEmpty { recordedByEvent[at, default: [:]][key] = inputs }
        }

        var entries: [TraceEntry] = []
        for (index, event) in events.enumerated() {
            var routes: [String: Any] = [:]
            for (routeIndex, route) in configuration.routes.enumerated() {
                var judged: [String: Any] = ["verdict": verdicts[index][route.name] ?? ""]
                if verdicts[index][route.name] == "matches" {
                    judged["flow"] = simulations[routeIndex].steps[event.id]?.description ?? "none"
                }
                if let made = callsByEvent[index]?[route.name] { judged["calls"] = made }
                routes[route.name] = judged
            }
            entries.append(TraceEntry(event: event, expected: ["routes": routes], recorded: recordedByEvent[index] ?? [:]))
        }
        return entries
    }

    /// Every agent a route names, dry-run (``AgentSettings/makeDryRunAgent(logger:tools:keyring:exchange:)``).
    func makeAgents(tape: TraceTape, live: Bool) throws -> [String: any Agent] {
        let real = live ? ToolSettings.makeTools(configuration.tools.filter { $0.effect == .read }, defaultDSN: configuration.source.dsn, privacy: configuration.privacy, logger: logger) : [:]
        var tools: [String: any Tool] = [:]
        for tool in configuration.tools {
            tools[tool.name] = tool.effect == .read
                ? TapedReadTool(name: tool.name, parameters: tool.parameters, live: real[tool.name], tape: tape)
                : SimulatedWriteTool(name: tool.name, parameters: tool.parameters)
        }
        let wanted = Set(configuration.routes.map(\.agent))
        var agents: [String: any Agent] = [:]
        for agent in configuration.agents where wanted.contains(agent.name) {
            agents[agent.name] = try agent.makeDryRunAgent(logger: logger, tools: tools, keyring: configuration.privacy?.keyring, exchange: tape)
        }
        return agents
    }

    /// A call as the trace compares it.
    static func describe(_ made: RouteFlowSimulation.Call, agent: String, outcome: AgentOutcome, recording: TraceTape.Recording) -> [String: Any] {
        var call: [String: Any] = ["agent": agent, "idempotency_key": made.call.idempotencyKey, "events": made.call.events.map(\.id),
                                   "ordering_key": made.orderingKey]
        if let first = recording.requests.first, let messages = first["messages"] as? [[String: Any]] {
            call["prompt"] = messages.map { message -> [String: Any] in
                ["role": message["role"] ?? NSNull(), "content": message["content"] ?? NSNull()]
            }
        }
        switch outcome {
        case .success(let output):
            call["outcome"] = "success"
            if let output, var object = TraceJSON.parse(output) as? [String: Any] {
                if let receipts = object.removeValue(forKey: "receipts") as? [[String: Any]] {
                    call["receipts"] = receipts.map { receipt in receipt.filter { $0.key != "result" } }
                }
                object.removeValue(forKey: "simulated")
                if !object.isEmpty { call["decision"] = object }
            } else if let output {
                call["decision"] = String(decoding: output.prefix(4096), as: UTF8.self)
            }
        case .failure(let error):
            call["outcome"] = "failure"
            call["error"] = error.description
        }
        return call
    }
}
