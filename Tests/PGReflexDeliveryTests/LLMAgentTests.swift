import Foundation
import Logging
import Mustache
import PGReflexAgentContract
@testable import PGReflexAgents
import Testing

/// The LLM agent's pure parts: what the templates see, and how an answer becomes a decision.
/// The exchange itself is tested against a real model (LLMAgentEndToEndTests).
@Suite struct LLMAgentTests {
    static let envelope = Array(#"{"id":"e-1","op":"c","source":{"schema":"public","table":"tickets"},"after":{"id":7,"subject":"<b>invoice</b> & refund"}}"#.utf8) + [0x0A]

    @Test func promptsRenderTheEventAsTextWithoutEscaping() throws {
        let call = AgentCall(route: "triage", events: [AgentEvent(id: "e-1", table: "public.tickets", op: "c", envelope: Self.envelope)], idempotencyKey: "k")
        let template = try LLMAgent.template("Ticket {{event.after.id}}: {{event.after.subject}} ({{route}}, {{event_count}} event)", setting: "t")
        #expect(template.render(LLMAgent.context(call, agent: "a")) == "Ticket 7: <b>invoice</b> & refund (triage, 1 event)")
        let whole = try LLMAgent.template(LLMAgent.Settings.defaultPrompt, setting: "t").render(LLMAgent.context(call, agent: "a"))
        #expect(whole.hasPrefix("Event e-1 on public.tickets (op c):\n{\"id\":\"e-1\""), "\(whole)")
        #expect(throws: AgentError.self) { try LLMAgent.template("{{#event}} unclosed", setting: "agents.a.llm.prompt") }
    }

    func answer(_ json: String) throws -> LLMAgent.Answer {
        try #require(LLMAgent.answer(Array(json.utf8)))
    }

    /// The shape OpenAI documents for native tool calls (`tool_calls[].function.arguments` is
    /// a JSON string); SmolLM2 ignores tools, so this path is checked on that shape.
    @Test func aDecideToolCallIsTheDecision() throws {
        let response = try answer(#"""
            {"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"finish_reason":"tool_calls",
             "message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"decide",
             "arguments":"{\"summary\":\"Refund the duplicate charge\",\"actions\":[{\"tool\":\"refund\",\"args\":{\"order_id\":7}}],\"citations\":[\"e-1\"]}"}}]}}],
             "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150}}
            """#)
        #expect(response.usage.total == 150 && response.model == "gpt-4o-mini")
        let decision = try LLMAgent.decision(response, actions: ["refund", "notify"]).get()
        #expect(decision == LLMAgent.Decision(summary: "Refund the duplicate charge", actions: [.init(tool: "refund", arguments: #"{"order_id":7}"#)], citations: ["e-1"]))
        let hash = LLMAgent.promptHash(system: "s", user: "u")
        #expect(hash.count == 64 && hash != LLMAgent.promptHash(system: "s", user: "v") && hash != LLMAgent.promptHash(system: "su", user: ""))
        let outcome = String(decoding: LLMAgent.outcome(decision, model: "m", usage: response.usage, steps: 1, promptHash: hash), as: UTF8.self)
        #expect(outcome.contains(#""actions":[{"args":{"order_id":7},"tool":"refund"}]"#) && outcome.contains(#""total_tokens":150"#), "\(outcome)")
        #expect(outcome.contains(#""prompt_sha256":"\#(hash)""#), "\(outcome)")
    }

    @Test func answersOutsideTheSchemaAreRejectedWithTheReason() throws {
        func reason(_ content: String, actions: [String] = []) throws -> String? {
            let body = try JSONSerialization.data(withJSONObject: ["choices": [["message": ["role": "assistant", "content": content]]]])
            guard case .failure(let problem) = LLMAgent.decision(try answer(String(decoding: body, as: UTF8.self)), actions: actions) else { return nil }
            return problem.reason
        }
        #expect(try reason("not json") == "it is not a JSON object")
        #expect(try reason(#"{"summary":"x","actions":[],"citations":[],"confidence":1}"#) == "it has keys the schema does not allow: confidence")
        #expect(try reason(#"{"summary":" ","actions":[],"citations":[]}"#) == "summary must be a non-empty string")
        #expect(try reason(#"{"summary":"x","actions":[{"tool":"drop_table","args":{}}],"citations":[]}"#, actions: ["refund"])
                == "drop_table is not one of the allowed actions (refund)")
        #expect(try reason(#"{"summary":"x","actions":[{"tool":"refund","arguments":{}}],"citations":[]}"#) == "no actions are allowed here", "arguments is read as args")
        #expect(try reason(#"{"summary":"x","actions":[],"citations":["e-1"]}"#) == nil)
        let other = try answer(#"{"choices":[{"message":{"role":"assistant","tool_calls":[{"id":"c9","type":"function","function":{"name":"shell","arguments":"{}"}}]}}]}"#)
        guard case .failure(let problem) = LLMAgent.decision(other, actions: []) else { Issue.record("expected a rejection"); return }
        #expect(problem.reason == "there is no tool shell: call decide" && problem.toolCallID == "c9")
    }

    @Test func theSchemaNamesOnlyTheAllowedActions() throws {
        let schema = LLMAgent.decisionSchema(actions: ["refund"])
        let data = try JSONSerialization.data(withJSONObject: schema, options: [.sortedKeys])
        #expect(String(decoding: data, as: UTF8.self).contains(#""enum":["refund"]"#))
        let required = String(decoding: try JSONSerialization.data(withJSONObject: LLMAgent.decisionSchema(actions: ["refund"], citations: ["public.tickets@v1"], minActions: 1), options: [.sortedKeys]), as: UTF8.self)
        #expect(required.contains(#""minItems":1"#) && required.contains(#""enum":["public.tickets@v1"]"#), "\(required)")
        let none = String(decoding: try JSONSerialization.data(withJSONObject: LLMAgent.decisionSchema(actions: []), options: [.sortedKeys]), as: UTF8.self)
        #expect(none.contains(#""maxItems":0"#))
    }
}
