import Foundation
import PGReflexTestSupport
import Testing

/// The `llm` agent against a real model (SmolLM2-135M behind llama.cpp's OpenAI-compatible
/// server) through `pgreflex run`. The model is tiny: these tests check the protocol and the
/// decision's structure, not its judgement.
@Suite(.postgresCluster, .localModel, .serialized)
struct LLMAgentEndToEndTests {
    func configure(_ f: RouteFixture, _ llm: String) throws {
        try f.configure("""
            agents:
              triage: { llm: { base_url: "\(try LocalModel.required().baseURL)", model: smollm2, \(llm) } }
            routes:
              triage: { tables: ["\(f.name).tickets"], agent: triage, retries: { attempts: 1 }, start: earliest }
            """)
    }

    @Test func aTicketGetsATypedDecisionKeptAsItsResult() throws {
        let f = try RouteFixture("llm", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text, customer_email text);")
        defer { f.remove() }
        try configure(f, #"prompt: "A customer opened support ticket {{event.after.id}}: {{event.after.subject}}. Event id: {{event.id}}.", max_tokens: 700, max_steps: 4"#)
        try f.sql("INSERT INTO tickets VALUES (1, 'my invoice is wrong', 'ann@example.com'), (2, 'cannot log in', 'bob@example.com');")
        let run = try f.runToEnd()
        #expect(run.status == 0, "\(run.output)")
        let stopped = RouteFixture.stopped("triage", in: run.output)
        #expect(stopped["route.succeeded"] == "2", "\(stopped) \(f.command(["dlq", "list", "--config", f.config]).output)")
        let results = f.command(["results", "list", "--config", f.config, "--format", "json"])
        let rows = results.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(rows.count == 2, "\(results.output)")
        for row in rows {
            let output = try #require(row["output"] as? [String: Any], "\(row)")
            #expect(Set(output.keys) == ["summary", "actions", "citations", "model", "steps", "usage"], "\(output)")
            #expect(!(output["summary"] as? String ?? "").isEmpty && (output["actions"] as? [Any])?.isEmpty == true && output["citations"] is [String])
            let usage = try #require(output["usage"] as? [String: Int])
            #expect((usage["prompt_tokens"] ?? 0) > 0 && (usage["completion_tokens"] ?? 0) > 0, "\(usage)")
        }
    }

    @Test func aCallOverItsTokenBudgetIsDeadLetteredNotRetried() throws {
        let f = try RouteFixture("llmbudget", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text);")
        defer { f.remove() }
        try configure(f, "token_budget: 60, max_tokens: 300")
        try f.sql("INSERT INTO tickets VALUES (1, 'my invoice is wrong');")
        let run = try f.runToEnd()
        #expect(run.status == 0, "\(run.output)")
        #expect(RouteFixture.stopped("triage", in: run.output)["route.dead_lettered"] == "1", "\(run.output.suffix(2000))")
        let letters = f.command(["dlq", "list", "--config", f.config])
        #expect(letters.output.contains("over its token_budget of 60"), "\(letters.output)")
    }

    @Test func aServerThatIsNotThereIsRetriedThenDeadLettered() throws {
        let f = try RouteFixture("llmdown", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text);")
        defer { f.remove() }
        try f.configure("""
            agents:
              triage: { llm: { base_url: "http://127.0.0.1:\(try PostgresCluster.freePort())/v1", model: m } }
            routes:
              triage: { tables: ["llmdown.tickets"], agent: triage, retries: { attempts: 2, backoff: { initial: 10ms, max: 10ms } }, start: earliest }
            """)
        try f.sql("INSERT INTO tickets VALUES (1, 'x');")
        let run = try f.runToEnd()
        let stopped = RouteFixture.stopped("triage", in: run.output)
        #expect(stopped["route.retries"] == "1" && stopped["route.dead_lettered"] == "1", "\(stopped)")
    }
}
