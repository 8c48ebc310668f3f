import AsyncHTTPClient
import CoreMetrics
import Foundation
public import Logging
import Mustache
import NIOCore
import NIOHTTP1
public import PGReflexAgentContract
import PGReflexDispatch
public import PGReflexTools

/// `llm`: asks a model behind an OpenAI-compatible chat-completions API (OpenAI, vLLM,
/// llama.cpp's server, Ollama) what to do about the event, and returns its typed decision,
/// `{summary, actions, citations}`, as the call's outcome.
///
/// The prompts are swift-mustache templates rendered with the event (`event`, `events`,
/// `event_json`, `route`, `agent`). The decision comes back either as strict JSON
/// (`response_format: json_schema`) or as a call of the `decide` tool (`tools`/`tool_calls`),
/// as configured. An answer that does not fit the schema is sent back with what was wrong, up
/// to `max_steps` requests; every request counts against `token_budget`. The model only ever
/// sees the privacy-safe envelope.
public final class LLMAgent: Agent {
    public struct Settings: Sendable {
        public enum Decision: String, Sendable, CaseIterable {
            /// `response_format: {type: json_schema, strict: true}`: grammar-constrained JSON.
            case jsonSchema = "json_schema"
            /// Native tools: the model calls `decide` with the decision as its arguments.
            case tools
        }

        /// Up to the version, e.g. `http://127.0.0.1:8080/v1`; `/chat/completions` is appended.
        public var baseURL: String
        public var model: String
        /// Sent as a bearer token; read from the environment by the configuration.
        public var apiKey: String?
        public var system: String
        public var prompt: String
        public var decision: Decision
        /// The actions (tool names) a decision may contain; none: the decision only describes.
        /// The agent's `actions:`.
        public var actions: [String]
        /// Read tools run before the prompt is rendered; their rows are `enrichment.<tool>`.
        public var enrich: [Enrichment] = []
        /// Read tools the model may call while it decides (`decision: tools`): each call runs
        /// at once and its rows go back to the model.
        public var readTools: [String] = []
        /// At least this many actions in every decision (1: the agent must act, e.g. set a
        /// ticket's category).
        public var minActions = 0
        public var temperature: Double
        /// Per request.
        public var maxTokens: Int
        /// Per call, over all its requests.
        public var tokenBudget: Int
        public var maxSteps: Int
        public var timeout: Duration

        public static let defaultSystem = """
            You decide what to do about one change in a PostgreSQL database. Answer with a JSON \
            object: "summary" (one sentence), "actions" (the tools to run with their args, from \
            those offered; often none) and "citations" (what you relied on: {{citations}}).
            """
        public static let defaultPrompt = "Event {{event.id}} on {{event.source.schema}}.{{event.source.table}} (op {{event.op}}):\n{{event_json}}"

        public init(baseURL: String, model: String, apiKey: String? = nil, system: String = Settings.defaultSystem,
                    prompt: String = Settings.defaultPrompt, decision: Decision = .jsonSchema, actions: [String] = [],
                    temperature: Double = 0, maxTokens: Int = 512, tokenBudget: Int = 8192, maxSteps: Int = 3, timeout: Duration = .seconds(60)) {
            self.baseURL = baseURL
            self.model = model
            self.apiKey = apiKey
            self.system = system
            self.prompt = prompt
            self.decision = decision
            self.actions = actions
            self.temperature = temperature
            self.maxTokens = maxTokens
            self.tokenBudget = tokenBudget
            self.maxSteps = maxSteps
            self.timeout = timeout
        }
    }

    /// A read tool to run before asking, with its arguments as templates over the event.
    public struct Enrichment: Sendable, Equatable {
        public var tool: String
        public var arguments: [String: String]

        public init(tool: String, arguments: [String: String]) {
            self.tool = tool
            self.arguments = arguments
        }
    }

    public let name: String
    let settings: Settings
    let tools: [String: any Tool]
    let system: MustacheTemplate
    let prompt: MustacheTemplate
    let logger: Logger
    /// Between the agent and its model (`trace`); nil: straight to the model.
    let exchange: (any ChatExchange)?

    /// Fails when a template does not parse.
    public init(name: String, settings: Settings, tools: [String: any Tool] = [:], exchange: (any ChatExchange)? = nil, logger: Logger) throws(AgentError) {
        self.name = name
        self.settings = settings
        self.tools = tools
        self.exchange = exchange
        self.logger = logger
        system = try Self.template(settings.system, setting: "agents.\(name).llm.system")
        prompt = try Self.template(settings.prompt, setting: "agents.\(name).llm.prompt")
    }

    /// Prompts are text: nothing is HTML-escaped.
    public static func validate(template text: String, setting: String) throws(AgentError) {
        _ = try template(text, setting: setting)
    }

    static func template(_ text: String, setting: String) throws(AgentError) -> MustacheTemplate {
        do {
            return try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text)
        } catch {
            throw AgentError(code: .permanent, message: "\(setting) is not a valid mustache template (\(error)): check its {{ }} pairs and sections")
        }
    }

    /// What a decision may cite, as the seeds' contract has it: each event's
    /// `schema.table@v<schema version>`.
    static func citations(_ events: [Any]) -> [String] {
        var seen: [String] = []
        for case let event as [String: Any] in events {
            guard let source = event["source"] as? [String: Any], let schema = source["schema"] as? String, let table = source["table"] as? String else { continue }
            let citation = "\(schema).\(table)@v\((source["schema_version"] as? Int).map(String.init) ?? "?")"
            if !seen.contains(citation) { seen.append(citation) }
        }
        return seen
    }

    /// What the templates see.
    static func context(_ call: AgentCall, agent: String) -> [String: Any] {
        let events = call.events.map { (try? JSONSerialization.jsonObject(with: Data(AgentPayload.trimmed($0.envelope)))) ?? [:] }
        return ["event": events.first ?? [:], "events": events, "event_count": events.count, "route": call.route, "agent": agent,
                "event_json": String(decoding: AgentPayload.body(call.events), as: UTF8.self),
                "citations": citations(events).joined(separator: ", ")]
    }

    public func handle(_ call: AgentCall) async -> AgentOutcome {
        var context = Self.context(call, agent: name)
        if !settings.enrich.isEmpty {
            switch await enrichment(context, call: call) {
            case .success(let found): context["enrichment"] = found
            case .failure(let error): return .failure(error)
            }
        }
        let citations = Self.citations(context["events"] as? [Any] ?? []) + settings.enrich.map { "tools.\($0.tool)" }
        let (systemText, userText) = (system.render(context), prompt.render(context))
        var messages: [[String: Any]] = [["role": "system", "content": systemText], ["role": "user", "content": userText]]
        let timeout = min(call.timeout ?? settings.timeout, settings.timeout)
        let deadline = NIODeadline.now() + .nanoseconds(UnixTime.micros(timeout) * 1000)
        var used = Usage()
        var lastAnswer = ""
        for step in 1...settings.maxSteps {
            let remaining = settings.tokenBudget - used.total
            guard remaining > 0 else { break }
            let answer: Answer
            switch await request(messages: messages, maxTokens: min(settings.maxTokens, remaining), citations: citations, call: call, deadline: deadline, timeout: timeout) {
            case .failure(let error): return .failure(error)
            case .success(let value): answer = value
            }
            used.add(answer.usage)
            Counter(label: "pgreflex_llm_tokens_total", dimensions: [("agent", name), ("kind", "prompt")]).increment(by: answer.usage.prompt)
            Counter(label: "pgreflex_llm_tokens_total", dimensions: [("agent", name), ("kind", "completion")]).increment(by: answer.usage.completion)
            if used.total > settings.tokenBudget {
                return .failure(AgentError(code: .permanent, message: "agents.\(name): the call used \(used.total) tokens, over its token_budget of \(settings.tokenBudget): raise token_budget or shorten the prompt"))
            }
            lastAnswer = answer.toolCalls.first(where: { $0.name == "decide" })?.arguments ?? answer.content ?? ""
            let reads = answer.toolCalls.filter { settings.readTools.contains($0.name) }
            if !reads.isEmpty {
                // Look-ups first: their rows go back, and the model goes on deciding.
                messages.append(answer.message)
                for read in reads {
                    messages.append(["role": "tool", "tool_call_id": read.id, "content": await lookUp(read, call: call, step: step)])
                }
                continue
            }
            switch Self.decision(answer, actions: settings.actions, minActions: settings.minActions) {
            case .success(let decision):
                return .success(output: Self.outcome(decision, model: answer.model ?? settings.model, usage: used, steps: step,
                                                     promptHash: Self.promptHash(system: systemText, user: userText)))
            case .failure(let problem):
                logger.debug("the model's answer did not fit the decision schema", metadata: ["agent": "\(name)", "step": "\(step)", "problem": "\(problem.reason)"])
                messages.append(answer.message)
                if let id = problem.toolCallID {
                    messages.append(["role": "tool", "tool_call_id": id, "content": "Rejected: \(problem.reason)"])
                }
                messages.append(["role": "user", "content": "Your answer was rejected: \(problem.reason). Answer again with only the decision."])
            }
        }
        return .failure(AgentError(code: .permanent, message: "agents.\(name): no valid decision in \(settings.maxSteps) steps (\(used.total) tokens): raise max_steps, or make the prompt clearer; the last answer was: \(lastAnswer.prefix(2000))"))
    }

    /// A read tool the model called: its rows (privacy applied by the tool), or why not.
    func lookUp(_ read: (id: String, name: String, arguments: String), call: AgentCall, step: Int) async -> String {
        guard let tool = tools[read.name], let object = (try? JSONSerialization.jsonObject(with: Data(read.arguments.utf8))) as? [String: Any] else {
            return #"{"error":"the arguments are not a JSON object"}"#
        }
        if let problem = tool.parameters.lazy.compactMap({ parameter in object[parameter.name].map { parameter.mismatch($0) } ?? "\(parameter.name) is missing" }).first {
            return #"{"error":\#(Self.quoted(problem))}"#
        }
        let invocation = ToolInvocation(arguments: object.mapValues(ActionRunner.text), idempotencyKey: "\(call.idempotencyKey):read:\(step):\(read.id)",
                                        causationID: call.events.first?.id ?? call.idempotencyKey)
        switch await tool.run(invocation) {
        case .success(let receipt): return receipt.result
        case .failure(let error): return #"{"error":\#(Self.quoted(error.message))}"#
        }
    }

    static func quoted(_ text: String) -> String {
        String(decoding: (try? JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed])) ?? Data("\"\"".utf8), as: UTF8.self)
    }

    /// The enrichment tools' rows (privacy applied by the tool), by tool name.
    func enrichment(_ context: [String: Any], call: AgentCall) async -> Result<[String: Any], AgentError> {
        var found: [String: Any] = [:]
        for (index, step) in settings.enrich.enumerated() {
            guard let tool = tools[step.tool] else {
                return .failure(AgentError(code: .permanent, message: "agents.\(name).llm.enrich: no tool \(step.tool)"))
            }
            var arguments: [String: String?] = [:]
            for (parameter, text) in step.arguments {
                guard let template = try? Self.template(text, setting: "enrich") else { continue }
                arguments[parameter] = template.render(context)
            }
            let invocation = ToolInvocation(arguments: arguments, idempotencyKey: "\(call.idempotencyKey):enrich:\(index)",
                                            causationID: call.events.first?.id ?? call.idempotencyKey)
            switch await tool.run(invocation) {
            case .success(let receipt):
                found[step.tool] = (try? JSONSerialization.jsonObject(with: Data(receipt.result.utf8), options: [.fragmentsAllowed])) ?? []
            case .failure(let error):
                return .failure(AgentError(code: error.code, message: "agents.\(name).llm.enrich: \(error.message)"))
            }
        }
        return .success(found)
    }

}
