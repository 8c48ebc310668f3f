import Foundation
import HTTPTypes
import Hummingbird
import PGReflexPrivacy
import PGReflexTestSupport
import PGReflexWire
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `llm` agent against a real model (SmolLM2-135M behind llama.cpp's OpenAI-compatible
/// server) through `pgreflex run`. The model is tiny: these tests check the protocol and the
/// decision's structure, not its judgement.
@Suite(.postgresCluster, .localModel, .serialized, .timeLimit(.minutes(10)))
struct LLMAgentEndToEndTests {
    func configure(_ f: RouteFixture, _ llm: String) throws {
        try f.configure("""
            agents:
              triage: { llm: { base_url: "\(try LocalModel.required().baseURL)", model: smollm2, \(llm) } }
            routes:
              triage: { tables: ["\(f.name).tickets"], agent: triage, retries: { attempts: 1, timeout: 150s }, start: earliest }
            """)
    }

    // Short answers (max_tokens 150; 400 where the answer holds a tool call) keep a call to
    // seconds; the generous timeouts are for a CI machine busy with every other suite, where a
    // 30 s limit left both model tests unchecked.
    @Test func aTicketGetsATypedDecisionKeptAsItsResult() async throws {
        let f = try RouteFixture("llm", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text, customer_email text);")
        defer { f.remove() }
        try configure(f, #"prompt: "A customer opened support ticket {{event.after.id}}: {{event.after.subject}}. Event id: {{event.id}}.", max_tokens: 150, max_steps: 4, timeout: 120s"#)
        try f.sql("INSERT INTO tickets VALUES (1, 'my invoice is wrong', 'ann@example.com'), (2, 'cannot log in', 'bob@example.com');")
        let run = try await f.runToEndWithoutBlocking()
        #expect(run.status == 0, "\(run.output)")
        let stopped = RouteFixture.stopped("triage", in: run.output)
        // On a loaded 2-core machine the tiny model can run out of time: every event is then
        // decided or in the DLQ for that reason (nothing lost), and the test says so.
        let succeeded = Int(stopped["route.succeeded"] ?? "") ?? 0
        if succeeded < 2 {
            // Nothing lost: each event is decided or dead-lettered (a slow model's time out).
            let letters = f.command(["dlq", "list", "--config", f.config, "--format", "json"]).output
            let lettered = letters.split(separator: "\n").filter { $0.hasPrefix("{") }.count
            #expect(succeeded + lettered == 2, "\(stopped) \(letters)")
        }
        if succeeded == 0 {
            // Nothing decided: the decision's structure went unchecked. Said as a known issue,
            // never passed silently.
            withKnownIssue("the local model decided nothing in time on this machine: the decision's structure went unchecked") {
                Issue.record("\(stopped)")
            }
            return
        }
        let results = f.command(["results", "list", "--config", f.config, "--format", "json"])
        let rows = results.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(rows.count == succeeded, "\(results.output)")
        for row in rows {
            let output = try #require(row["output"] as? [String: Any], "\(row)")
            #expect(Set(output.keys) == ["summary", "actions", "citations", "model", "steps", "usage", "prompt_sha256"], "\(output)")
            #expect(!(output["summary"] as? String ?? "").isEmpty && (output["actions"] as? [Any])?.isEmpty == true && output["citations"] is [String])
            let usage = try #require(output["usage"] as? [String: Int])
            #expect((usage["prompt_tokens"] ?? 0) > 0 && (usage["completion_tokens"] ?? 0) > 0, "\(usage)")
        }
    }

    @Test func aCallOverItsTokenBudgetIsDeadLetteredNotRetried() async throws {
        let f = try RouteFixture("llmbudget", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text);")
        defer { f.remove() }
        try configure(f, "token_budget: 60, max_tokens: 300")
        try f.sql("INSERT INTO tickets VALUES (1, 'my invoice is wrong');")
        let run = try await f.runToEndWithoutBlocking()
        #expect(run.status == 0, "\(run.output)")
        #expect(RouteFixture.stopped("triage", in: run.output)["route.dead_lettered"] == "1", "\(run.output.suffix(2000))")
        let letters = f.command(["dlq", "list", "--config", f.config])
        #expect(letters.output.contains("over its token_budget of 60"), "\(letters.output)")
    }

    @Test func aServerThatIsNotThereIsRetriedThenDeadLettered() async throws {
        let f = try RouteFixture("llmdown", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text);")
        defer { f.remove() }
        try f.configure("""
            agents:
              triage: { llm: { base_url: "http://127.0.0.1:\(try PostgresCluster.freePort())/v1", model: m } }
            routes:
              triage: { tables: ["llmdown.tickets"], agent: triage, retries: { attempts: 2, backoff: { initial: 10ms, max: 10ms } }, start: earliest }
            """)
        try f.sql("INSERT INTO tickets VALUES (1, 'x');")
        let run = try await f.runToEndWithoutBlocking()
        let stopped = RouteFixture.stopped("triage", in: run.output)
        #expect(stopped["route.retries"] == "1" && stopped["route.dead_lettered"] == "1", "\(stopped)")
    }

    @Test func aDecisionActsThroughSQLExecAndKeepsItsReceipt() async throws {
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
                llm: { base_url: "\(try LocalModel.required().baseURL)", model: smollm2, min_actions: 1, max_tokens: 400, max_steps: 5, timeout: 120s,
                       prompt: "Support ticket {{event.after.id}}: {{event.after.subject}}. Set its category (billing, shipping or account) with set_category." }
                actions: [set_category]
            routes:
              triage: { tables: [llmact.tickets], agent: triage, retries: { attempts: 1, timeout: 150s }, start: earliest }
            """)
        try f.sql("INSERT INTO tickets VALUES (5, 'my invoice is wrong');")
        let run = try await f.runToEndWithoutBlocking(["--log-level", "debug"])
        // On a loaded 2-core CI machine the tiny model can run out of time: that is its speed,
        // not the protocol. Then the event must be in the DLQ (nothing lost), and the test says so.
        if RouteFixture.stopped("triage", in: run.output)["route.succeeded"] != "1" {
            let letters = f.command(["dlq", "list", "--config", f.config]).output
            #expect(letters.contains("did not answer within") || letters.contains("no valid decision")
                    || letters.contains("the call took longer than its timeout"), "\(letters)")
            withKnownIssue("the local model did not decide in time on this machine: the sql_exec path went unchecked") {
                Issue.record("\(letters)")
            }
            return
        }
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
    @Test func outputThatNeverFitsIsDeadLetteredWithTheRawAnswer() async throws {
        let f = try RouteFixture("llmbad", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text);")
        defer { f.remove() }
        try configure(f, "decision: tools, max_steps: 2, max_tokens: 60")
        try f.sql("INSERT INTO tickets VALUES (1, 'my invoice is wrong');")
        let run = try await f.runToEndWithoutBlocking()
        #expect(RouteFixture.stopped("triage", in: run.output)["route.dead_lettered"] == "1", "\(run.output.suffix(2000))")
        let letters = f.command(["dlq", "list", "--config", f.config, "--format", "json"]).output
        if letters.contains("did not answer within") {
            // On a loaded 2-core machine the tiny model can run out of time: the event is in the
            // DLQ for that reason (nothing lost), and this run could not check the prose path. Said
            // as a known issue, not passed silently.
            withKnownIssue("the local model ran out of time on a loaded machine; the prose answer went unchecked") {
                Issue.record("\(letters)")
            }
            return
        }
        #expect(letters.contains("no valid decision in 2 steps") && letters.contains("the last answer was: "), "\(letters)")
    }
}

/// A real HTTP server on 127.0.0.1 that answers chat completions from a script of responses in
/// OpenAI's documented shape, and keeps the requests: for the `tool_calls` path, which the
/// local model does not take.
final class ChatReplay: Sendable {
    let script: [String]
    private let bodies = Mutex<[[UInt8]]>([])

    /// The requests received, parsed.
    var requests: [[String: Any]] {
        bodies.withLock { $0 }.map { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] ?? [:] }
    }
    init(_ script: [String]) { self.script = script }

    func serving<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("v1/chat/completions") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let n = self.bodies.withLock { list in
                list.append(Array(bytes.readableBytesView))
                return list.count
            }
            let answer = n <= self.script.count ? self.script[n - 1] : #"{"choices":[{"message":{"role":"assistant","content":"no more"}}]}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: answer)))
        }
        return try await serveOnLoopback(router, body)
    }
}

@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct LLMToolCallTests {
    /// The model looks the customer's orders up (a read tool: it runs at once, and its rows go
    /// back), then calls the action tool, which ends the loop and becomes the decision's action.
    @Test func readToolsAnswerAtOnceAndAnActionCallEndsTheLoop() async throws {
        let f = try RouteFixture("llmtools", tables: "CREATE TABLE tickets (id int PRIMARY KEY, customer_id int, subject text); CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA llmtools_side; CREATE TABLE llmtools_side.categories (ticket_id int, category text);")
        try f.sql("INSERT INTO orders VALUES (1, 7, 120), (2, 7, 80);")
        let replay = ChatReplay([
            #"{"id":"c1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"recent_orders","arguments":"{\"customer_id\":7}"}}]}}],"usage":{"prompt_tokens":90,"completion_tokens":12,"total_tokens":102}}"#,
            #"{"id":"c2","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"A billing question from a repeat customer.","tool_calls":[{"id":"call_2","type":"function","function":{"name":"set_category","arguments":"{\"ticket_id\":5,\"category\":\"billing\"}"}}]}}],"usage":{"prompt_tokens":140,"completion_tokens":20,"total_tokens":160}}"#,
        ])
        let (status, log) = try await replay.serving { port in
            try f.configure("""
                tools:
                  recent_orders: { sql_query: { query: "SELECT id, total FROM llmtools.orders WHERE customer_id = $1::int ORDER BY id", parameters: [{ name: customer_id, type: integer }] } }
                  set_category: { sql_exec: { statement: "INSERT INTO llmtools_side.categories VALUES ($1::int, $2)", parameters: [{ name: ticket_id, type: integer }, { name: category, values: [billing, shipping] }] } }
                agents:
                  triage: { llm: { base_url: "http://127.0.0.1:\(port)/v1", model: gpt-4o-mini, decision: tools, tools: [recent_orders] }, actions: [set_category] }
                routes:
                  triage: { tables: [llmtools.tickets], agent: triage, retries: { attempts: 1 }, start: earliest }
                """)
            try f.sql("INSERT INTO tickets VALUES (5, 7, 'charged twice');")
            let end = try f.cluster.currentInsertLSN()
            let log = f.dir + "/run.log"
            let status = try await runWithoutBlocking([f.exe, "run", "--config", f.config, "--end-lsn", end.description], log: log)
            return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        #expect(status == 0, "\(log)")
        let requests = replay.requests
        #expect(requests.count == 2, "\(log.suffix(1500))")
        let offered = ((requests.first?["tools"] as? [[String: Any]]) ?? []).compactMap { ($0["function"] as? [String: Any])?["name"] as? String }
        #expect(offered == ["decide", "recent_orders", "set_category"])
        let messages = (requests.last?["messages"] as? [[String: Any]]) ?? []
        let toolMessage = messages.first { $0["role"] as? String == "tool" }
        #expect(toolMessage?["tool_call_id"] as? String == "call_1")
        #expect((toolMessage?["content"] as? String) == #"[{"id":"1","total":"120"},{"id":"2","total":"80"}]"#, "\(messages)")
        #expect(try f.cluster.psql("SELECT ticket_id || ':' || category FROM llmtools_side.categories").trimmingCharacters(in: .whitespacesAndNewlines) == "5:billing")
        let result = f.command(["results", "list", "--config", f.config, "--format", "json"]).output
        #expect(result.contains(#""summary":"A billing question from a repeat customer.""#) && result.contains(#""total_tokens":262"#) && result.contains(#""status":"done""#), "\(result)")
    }

    /// The model gets tokens, the tool gets the email: scan every place a value could leak to
    /// (the prompts sent to the model, the results, the state store, the journal, the log).
    @Test func noProtectedPlaintextReachesTheModelOrTheRecords() async throws {
        let f = try RouteFixture("llmpii", tables: "CREATE TABLE customers (id int PRIMARY KEY, email text, note text);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA llmpii_side; CREATE TABLE llmpii_side.outbox (email text);")
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        try "k1:\(key)\n".write(toFile: f.dir + "/privacy.keys", atomically: true, encoding: .utf8)
        chmod(f.dir + "/privacy.keys", 0o600)
        let emails = (1...3).map { "secret.person\($0)@example.org" }
        // Tokens are deterministic: the replayed model answers with the token it was shown.
        let keyring = try PrivacyKeyring(parsing: "k1:\(key)\n", source: "test")
        let replay = ChatReplay(emails.map { email in
            let token = keyring.token(of: Array(email.utf8))
            let decision = #"{"summary":"notify","actions":[{"tool":"notify","args":{"email":"\#(token)"}},{"tool":"announce","args":{"email":"\#(token)"}}],"citations":[]}"#
            let content = String(decoding: try! JSONSerialization.data(withJSONObject: decision, options: [.fragmentsAllowed]), as: UTF8.self)
            return #"{"choices":[{"message":{"role":"assistant","content":\#(content)}}],"usage":{"prompt_tokens":10,"completion_tokens":5}}"#
        })
        let (status, log) = try await replay.serving { port in
            try f.configure("""
                privacy:
                  keys: { file: ./privacy.keys }
                  columns:
                    - { match: "llmpii.customers.email", policy: tokenize }
                tools:
                  notify: { sql_exec: { statement: "INSERT INTO llmpii_side.outbox VALUES ($1)", parameters: [{ name: email, detokenize: true }] } }
                  # An emitted message re-enters the stream: it carries the token (detokenize is refused for emit).
                  announce: { emit: { prefix: llmpii.announce, parameters: [email] } }
                agents:
                  mailer: { llm: { base_url: "http://127.0.0.1:\(port)/v1", model: m, prompt: "Write to {{event.after.email}}: {{event_json}}" }, actions: [notify, announce] }
                routes:
                  mailer: { tables: [llmpii.customers], agent: mailer, concurrency: 1, start: earliest }
                """)
            try f.sql("INSERT INTO customers VALUES " + emails.enumerated().map { "(\($0.offset + 1), '\($0.element)', 'hello')" }.joined(separator: ", ") + ";")
            let end = try f.cluster.currentInsertLSN()
            let log = f.dir + "/run.log"
            let status = try await runWithoutBlocking([f.exe, "run", "--config", f.config, "--end-lsn", end.description, "--log-level", "debug"], log: log)
            return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        #expect(status == 0, "\(log.suffix(1500))")
        let prompts = replay.requests.map { String(decoding: (try? JSONSerialization.data(withJSONObject: $0)) ?? Data(), as: UTF8.self) }
        #expect(prompts.count == 3 && prompts.allSatisfy { $0.contains("Write to tok:k1:") }, "\(prompts)")
        try prompts.joined(separator: "\n").write(toFile: f.dir + "/prompts.txt", atomically: true, encoding: .utf8)
        try f.command(["results", "list", "--config", f.config, "--format", "json"]).output.write(toFile: f.dir + "/results.txt", atomically: true, encoding: .utf8)
        try f.command(["dlq", "list", "--config", f.config, "--format", "json"]).output.write(toFile: f.dir + "/dlq.txt", atomically: true, encoding: .utf8)
        // The emitted messages: captured into the journal too (scanned below), with tokens.
        let announced = try f.cluster.psql("SELECT count(*) FROM pgreflex.action_receipts WHERE tool = 'announce'").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(announced == "3", "\(announced)")
        let capture = try await f.runToEndWithoutBlocking()
        #expect(capture.status == 0, "\(capture.output.suffix(1500))")
        let files = try FileManager.default.contentsOfDirectory(atPath: f.dir + "/journal")
        let journaled = files
            .compactMap { FileManager.default.contents(atPath: f.dir + "/journal/" + $0) }
            .reduce(0) { count, data in count + (String(decoding: data, as: UTF8.self).components(separatedBy: "llmpii.announce").count - 1) }
        #expect(journaled == 3, "the three emitted messages are in the journal: \(files)")
        let scan = LeakScan.scan([f.dir], for: emails)
        #expect(scan.hits.isEmpty, "\(scan.hits)")
        #expect(scan.files >= 5, "scanned \(scan.files) files")
        let delivered = try f.cluster.psql("SELECT string_agg(email, ',' ORDER BY email) FROM llmpii_side.outbox").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(delivered == emails.joined(separator: ","), "the tool got the plaintext")
    }
}
