public import Logging
public import PGReflexAgentContract
public import PGReflexPrivacy
public import PGReflexTools

/// One `agents:` entry: its kind and the circuit breaker every route calling it shares.
public struct AgentSettings: Sendable {
    public enum Kind: Sendable {
        /// JSON lines, fsynced; `setting` names the path's key for errors.
        case file(path: String, setting: String)
        case log(level: Logger.Level)
        /// `delay` stands in for an agent's latency (benchmarks, drills).
        case noop(delay: Duration?)
        case webhook(WebhookAgent.Settings)
        case exec(ExecAgent.Settings)
        case llm(LLMAgent.Settings)
    }

    public var name: String
    public var kind: Kind
    /// The write tools its outcomes' `actions` may name.
    public var actions: [String] = []
    /// How often it may act, per key (`action_limits`).
    public var actionLimits: [ActionLimit] = []
    /// Failures in a row that open the breaker.
    public var breakerFailures: Int
    /// How long it stays open before a probe.
    public var breakerCoolDown: Duration

    public init(name: String, kind: Kind, breakerFailures: Int = 5, breakerCoolDown: Duration = .seconds(30)) {
        self.name = name
        self.kind = kind
        self.breakerFailures = breakerFailures
        self.breakerCoolDown = breakerCoolDown
    }

    /// The agent, acting through `tools` (all configured, built once per process) when its
    /// outcome names actions; its decisions kept in `decisions` before they are carried out.
    public func makeAgent(logger: Logger, tools: [String: any Tool] = [:], keyring: PrivacyKeyring? = nil,
                          decisions: (any DecisionLog)? = nil) throws -> any Agent {
        let bare = try makeBareAgent(logger: logger, tools: tools)
        switch kind {
        case .file, .log, .noop:
            // They answer without an output, so never name actions: unwrapped, they keep
            // answering at once (`answersAtOnce`).
            return bare
        case .webhook, .exec, .llm:
            return ActingAgent(bare, runner: ActionRunner(tools: tools, keyring: keyring), allowed: actions, limits: actionLimits, decisions: decisions)
        }
    }

    func makeBareAgent(logger: Logger, tools: [String: any Tool]) throws -> any Agent {
        switch kind {
        case .file(let path, let setting): try FileAgent(name: name, path: path, setting: setting)
        case .log(let level): LogAgent(name: name, level: level, logger: logger)
        case .noop(let delay): NoopAgent(name: name, delay: delay)
        case .webhook(let settings): try WebhookAgent(name: name, settings: settings, logger: logger)
        case .exec(let settings): ExecAgent(name: name, settings: settings, logger: logger)
        case .llm(let settings): try LLMAgent(name: name, settings: settings, tools: tools, logger: logger)
        }
    }
}
