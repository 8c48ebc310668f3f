import Crypto
import Foundation
import PGReflexTools

/// The typed decision: its schema, reading it out of an answer, and the outcome kept.
extension LLMAgent {
    static let summaryLimit = 280
    static let citationLimit = 10
    static let actionLimit = 10

    /// The SHA-256 of the rendered prompts, hex: what a recorded decision answered.
    static func promptHash(system: String, user: String) -> String {
        SHA256.hash(data: Data((system + "\u{0}" + user).utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The decision's JSON Schema, as the model is held to it: each action one of the allowed
    /// tools, with that tool's arguments schema.
    static func decisionSchema(actions: [String], tools: [String: any Tool] = [:], citations: [String] = [], minActions: Int = 0) -> [String: Any] {
        let kinds: [[String: Any]] = actions.map { name in
            ["type": "object", "additionalProperties": false, "required": ["tool", "args"],
             "properties": ["tool": ["type": "string", "enum": [name]],
                            "args": tools[name].map { ToolParameter.schema($0.parameters) } ?? ["type": "object"]]]
        }
        var list: [String: Any] = ["type": "array"]
        if kinds.isEmpty {
            list["maxItems"] = 0
        } else {
            list["items"] = kinds.count == 1 ? kinds[0] : ["anyOf": kinds]
            list["maxItems"] = actionLimit
            if minActions > 0 { list["minItems"] = minActions }
        }
        // Bounded strings and lists: a grammar-constrained small model otherwise may run on
        // until max_tokens, and a decision is a short thing.
        return ["type": "object", "additionalProperties": false, "required": ["summary", "actions", "citations"],
                "properties": ["summary": ["type": "string", "maxLength": summaryLimit], "actions": list,
                               "citations": ["type": "array", "maxItems": citationLimit,
                                             "items": citations.isEmpty ? ["type": "string", "maxLength": 120] : ["type": "string", "enum": citations]]]]
    }

    struct Decision: Equatable {
        var summary: String
        var actions: [Action]
        var citations: [String]

        struct Action: Equatable {
            var tool: String
            /// A JSON object, as the model wrote it.
            var arguments: String
        }
    }

    struct Problem: Error {
        var reason: String
        /// The rejected `decide` call, answered with a tool message.
        var toolCallID: String?
    }

    /// The decision in an answer: the `decide` tool's arguments when it was called, else the
    /// message's content; checked against the schema (what a server without strict decoding
    /// may not have enforced).
    static func decision(_ answer: Answer, actions: [String], minActions: Int = 0) -> Result<Decision, Problem> {
        if answer.finishReason == "length" {
            return .failure(Problem(reason: "it was cut off at max_tokens; answer more briefly", toolCallID: answer.toolCalls.first?.id))
        }
        var text = answer.content ?? ""
        var callID: String?
        // Calls of action tools are the decision's actions (with `decide`'s, if it came too).
        let acted = answer.toolCalls.filter { $0.name != "decide" && actions.contains($0.name) }
        if let call = answer.toolCalls.first(where: { $0.name == "decide" }) {
            text = call.arguments
            callID = call.id
        } else if let other = answer.toolCalls.first(where: { !actions.contains($0.name) }) {
            return .failure(Problem(reason: "there is no tool \(other.name): call decide", toolCallID: other.id))
        } else if !acted.isEmpty {
            let summary = answer.content?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            text = String(decoding: (try? JSONSerialization.data(withJSONObject: [
                "summary": summary.isEmpty ? "acted through \(acted.map(\.name).joined(separator: ", "))" : String(summary.prefix(summaryLimit)),
                "actions": [Any](), "citations": [String](),
            ])) ?? Data(), as: UTF8.self)
        }
        func fail(_ reason: String) -> Result<Decision, Problem> { .failure(Problem(reason: reason, toolCallID: callID)) }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            return fail("it is not a JSON object")
        }
        let unknown = Set(object.keys).subtracting(["summary", "actions", "citations"])
        guard unknown.isEmpty else { return fail("it has keys the schema does not allow: \(unknown.sorted().joined(separator: ", "))") }
        guard let summary = object["summary"] as? String, !summary.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return fail("summary must be a non-empty string")
        }
        guard summary.count <= summaryLimit else { return fail("summary is longer than \(summaryLimit) characters") }
        guard let citations = object["citations"] as? [String], citations.count <= citationLimit else {
            return fail("citations must be an array of at most \(citationLimit) strings")
        }
        guard let list = object["actions"] as? [[String: Any]] else { return fail("actions must be an array of objects") }
        var parsed: [Decision.Action] = []
        var items = list
        for call in acted {
            guard let arguments = (try? JSONSerialization.jsonObject(with: Data(call.arguments.utf8))) as? [String: Any] else {
                return fail("the arguments of \(call.name) are not a JSON object")
            }
            items.append(["tool": call.name, "args": arguments])
        }
        for item in items {
            guard let tool = item["tool"] as? String, let arguments = (item["args"] ?? item["arguments"]) as? [String: Any] else {
                return fail("each action needs tool (a string) and args (an object)")
            }
            guard actions.contains(tool) else {
                return fail(actions.isEmpty ? "no actions are allowed here" : "\(tool) is not one of the allowed actions (\(actions.joined(separator: ", ")))")
            }
            let data = (try? JSONSerialization.data(withJSONObject: arguments, options: [.sortedKeys])) ?? Data("{}".utf8)
            parsed.append(Decision.Action(tool: tool, arguments: String(decoding: data, as: UTF8.self)))
        }
        guard parsed.count <= actionLimit else { return fail("it names more than \(actionLimit) actions") }
        guard parsed.count >= minActions else { return fail("it must name at least \(minActions) action\(minActions == 1 ? "" : "s")") }
        return .success(Decision(summary: summary, actions: parsed, citations: citations))
    }

    /// The outcome kept as the call's result (and, with actions, as its recorded decision):
    /// `prompt_sha256` names the prompt it answered (the rendered system and user prompts).
    static func outcome(_ decision: Decision, model: String, usage: Usage, steps: Int, promptHash: String) -> [UInt8] {
        let actions: [[String: Any]] = decision.actions.map {
            ["tool": $0.tool, "args": (try? JSONSerialization.jsonObject(with: Data($0.arguments.utf8))) ?? [:]]
        }
        let object: [String: Any] = [
            "summary": decision.summary, "actions": actions, "citations": decision.citations, "model": model, "steps": steps, "prompt_sha256": promptHash,
            "usage": ["prompt_tokens": usage.prompt, "completion_tokens": usage.completion, "total_tokens": usage.total],
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }
}
