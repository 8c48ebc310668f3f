#if DEBUG
import Foundation
import PGReflexAgentContract
@testable import PGReflexAgents
import PGReflexTools
import Subprocess

/// What agents answer: a webhook's status, headers and body, an exec agent's exit and stdout,
/// a model's reply, and the actions in any outcome. Each becomes an outcome; a success's
/// output is JSON, and only allowed tools come out as actions.
enum OutputsFuzz {
    static let allowed = ["place_hold", "notify"]

    static func run(_ bytes: [UInt8]) {
        guard bytes.count >= 3 else { return }
        let body = Array(bytes.dropFirst(3))
        let text = String(decoding: body, as: UTF8.self)
        switch bytes[0] % 5 {
        case 0:
            let status = 100 + Int(bytes[1]) * 3 + Int(bytes[2] % 3)
            let header = text.split(separator: "\n", maxSplits: 1).first.map(String.init)
            let outcome = WebhookAgent.outcome(status: status, retryAfter: header, location: header, body: body)
            if case .success(let output?) = outcome {
                require((try? JSONSerialization.jsonObject(with: Data(output))) != nil, "a webhook success whose output is not JSON")
            }
            _ = WebhookAgent.retryAfter(text)
        case 1:
            let status: TerminationStatus = bytes[1] % 4 == 0 ? .signaled(Int32(bytes[2])) : .exited(Int32(bytes[2] % 80))
            let outcome = ExecAgent.outcome(.init(status: status, output: body, error: Array(body.prefix(64))), agent: "a", program: "p")
            if case .success(let output?) = outcome {
                require((try? JSONSerialization.jsonObject(with: Data(output), options: [.fragmentsAllowed])) != nil, "an exec success whose output is not JSON")
            }
        case 2:
            guard let answer = LLMAgent.answer(body) else { return }
            if case .success(let decision) = LLMAgent.decision(answer, actions: allowed, minActions: Int(bytes[1] % 2)) {
                require(decision.actions.allSatisfy { allowed.contains($0.tool) }, "a decision names a tool it may not use")
                require(!decision.summary.isEmpty, "a decision without a summary")
            }
        case 3:
            let runner = ActionRunner(tools: [:], keyring: nil)
            if case .success(let actions)? = runner.actions(in: body, allowed: allowed) {
                require(actions.allSatisfy { allowed.contains($0.tool) }, "an action names a tool it may not use")
            }
        default:
            _ = ActingAgent.output(body, receipts: [])
        }
    }
}
#endif
