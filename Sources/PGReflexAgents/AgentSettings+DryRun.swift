import Foundation
public import Logging
public import PGReflexAgentContract
public import PGReflexPrivacy
public import PGReflexTools

/// An agent as `trace record` and `trace verify` run it: nothing it does leaves the process.
/// Webhooks and the built-in agents are not called: each answers with a simulated receipt.
/// `exec` agents run, with `PGREFLEX_DRY_RUN=1` in their environment. LLM agents ask the model
/// through `exchange` (recorded, or answered from a recording), at temperature 0, so that a
/// trace is as repeatable as the model allows. The write tools in `tools` are the caller's simulated ones; action limits
/// do not apply (a trace never waits).
extension AgentSettings {
    public func makeDryRunAgent(logger: Logger, tools: [String: any Tool], keyring: PrivacyKeyring?, exchange: (any ChatExchange)?) throws -> any Agent {
        let runner = ActionRunner(tools: tools, keyring: keyring)
        switch kind {
        case .file: return SimulatedAgent(name: name, kind: "file")
        case .log: return SimulatedAgent(name: name, kind: "log")
        case .noop: return SimulatedAgent(name: name, kind: "noop")
        case .webhook: return SimulatedAgent(name: name, kind: "webhook")
        case .exec(var settings):
            settings.environment["PGREFLEX_DRY_RUN"] = "1"
            return ActingAgent(ExecAgent(name: name, settings: settings, logger: logger), runner: runner, allowed: actions)
        case .llm(var settings):
            settings.temperature = 0
            return ActingAgent(try LLMAgent(name: name, settings: settings, tools: tools, exchange: exchange, logger: logger), runner: runner, allowed: actions)
        }
    }
}

/// An agent that is not called: its outcome says so, with a receipt marked `simulated`.
struct SimulatedAgent: Agent {
    let name: String
    let kind: String

    func handle(_ call: AgentCall) async -> AgentOutcome {
        let receipt: [String: Any] = ["index": 0, "tool": kind, "idempotency_key": call.idempotencyKey, "status": ToolReceipt.Status.simulated.rawValue]
        let object: [String: Any] = ["simulated": true, "receipts": [receipt]]
        return .success(output: Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()))
    }
}
