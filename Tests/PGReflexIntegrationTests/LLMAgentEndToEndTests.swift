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

    @Test func aDecisionActsThroughSQLExecAndKeepsItsReceipt() throws {
        let f = try RouteFixture("llmact", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA llmact_side; CREATE TABLE llmact_side.categories (ticket_id numeric, category text);")
        try f.configure("""
            tools:
              set_category:
                sql_exec:
                  statement: "INSERT INTO llmact_side.categories VALUES ($1::numeric, $2)"
                  parameters: [{ name: ticket_id, type: integer }, { name: category, values: [billing, shipping, account] }]
            agents:
              triage:
                llm: { base_url: "\(try LocalModel.required().baseURL)", model: smollm2, min_actions: 1, max_tokens: 800, max_steps: 5,
                       prompt: "Support ticket {{event.after.id}}: {{event.after.subject}}. Set its category (billing, shipping or account) with set_category." }
                actions: [set_category]
            routes:
              triage: { tables: [llmact.tickets], agent: triage, retries: { attempts: 1, timeout: 90s }, start: earliest }
            """)
        try f.sql("INSERT INTO tickets VALUES (5, 'my invoice is wrong');")
        let run = try f.runToEnd(["--log-level", "debug"])
        #expect(RouteFixture.stopped("triage", in: run.output)["route.succeeded"] == "1",
                "\(f.command(["dlq", "list", "--config", f.config]).output) \(run.output.split(separator: "\n").filter { $0.contains("did not fit") }.joined(separator: "\n"))")
        let written = Int(try f.cluster.psql("SELECT count(*) FROM llmact_side.categories WHERE ticket_id IS NOT NULL").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let result = f.command(["results", "list", "--config", f.config, "--format", "json"]).output
        let row = try #require(result.split(separator: "\n").first.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        let output = try #require(row["output"] as? [String: Any])
        let receipts = try #require(output["receipts"] as? [[String: Any]], "\(output)")
        // The model chooses how many actions (at least one); each wrote its row, once.
        #expect(written >= 1 && receipts.count == written, "\(receipts)")
        #expect(receipts.allSatisfy { $0["status"] as? String == "done" && $0["tool"] as? String == "set_category" && ($0["result"] as? [String: Int])?["rows"] == 1 }, "\(receipts)")
        let keys = try f.cluster.psql("SELECT string_agg(idempotency_key, ' ' ORDER BY idempotency_key) FROM pgreflex.action_receipts WHERE tool = 'set_category'")
        #expect(keys.contains("triage:triage:\(row["event_id"] as? String ?? "?"):0"), "keys are (route, agent, event id, action index): \(keys)")
    }

    /// SmolLM2 ignores `tools` and answers in prose: every step is refused, and the event goes
    /// to the dead-letter queue with the model's last answer.
    @Test func outputThatNeverFitsIsDeadLetteredWithTheRawAnswer() throws {
        let f = try RouteFixture("llmbad", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text);")
        defer { f.remove() }
        try configure(f, "decision: tools, max_steps: 2, max_tokens: 60")
        try f.sql("INSERT INTO tickets VALUES (1, 'my invoice is wrong');")
        let run = try f.runToEnd()
        #expect(RouteFixture.stopped("triage", in: run.output)["route.dead_lettered"] == "1", "\(run.output.suffix(2000))")
        let letters = f.command(["dlq", "list", "--config", f.config, "--format", "json"]).output
        #expect(letters.contains("no valid decision in 2 steps") && letters.contains("the last answer was: "), "\(letters)")
    }
}
