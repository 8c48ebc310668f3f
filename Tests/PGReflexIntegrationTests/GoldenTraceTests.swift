import Foundation
import FoundationXML
import HTTPTypes
import Hummingbird
import PGReflexTestSupport
import Synchronization
import Testing

/// `pgreflex trace record | verify | update` through the executable: a trace recorded from a
/// model (a real HTTP server on 127.0.0.1 answering from a script) verifies clean offline, and
/// each kind of change (a route's condition, a prompt template, a tool's parameter, a recorded
/// reply) fails with the diff that names it.
@Suite(.timeLimit(.minutes(10)))
struct GoldenTraceTests {
    /// A directory with the configuration and the canonical events: two orders, one over the
    /// route's threshold.
    struct Workspace {
        let dir: String
        let exe: String

        init() throws {
            dir = NSTemporaryDirectory() + "pgreflex-trace-\(UUID().uuidString)"
            exe = try pgreflexExecutable()
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let events = [
                #"{"before":null,"after":{"id":1,"customer_id":7,"total":"900.00"},"source":{"schema":"public","table":"orders","schema_version":1,"ts_us":1700000000000000},"op":"c","id":"0000000000000010-00000000","key":{"id":1}}"#,
                #"{"before":null,"after":{"id":2,"customer_id":8,"total":"20.00"},"source":{"schema":"public","table":"orders","schema_version":1,"ts_us":1700000001000000},"op":"c","id":"0000000000000011-00000000","key":{"id":2}}"#,
            ]
            try (events.joined(separator: "\n") + "\n").write(toFile: dir + "/events.jsonl", atomically: true, encoding: .utf8)
        }

        func configure(port: Int, condition: String = "double(event.after.total) > 500.0",
                       prompt: String = "Order {{event.after.id}} by customer {{event.after.customer_id}}: {{event.after.total}}.",
                       reason: String = "reason", extra: String = "") throws {
            try """
                source: { dsn_env: TRACE_TEST_DSN, slot: s, publication: p }
                journal: { directory: ./journal }
                tools:
                  place_hold:
                    sql_exec:
                      statement: "INSERT INTO holds VALUES ($1::bigint, $2)"
                      parameters: [{ name: order_id, type: integer }, { name: \(reason), type: string }]
                agents:
                  fraud:
                    llm: { base_url: "http://127.0.0.1:\(port)/v1", model: gpt-4o-mini, prompt: "\(prompt)" }
                    actions: [place_hold]
                routes:
                  big:
                    tables: [public.orders]
                    ops: [c]
                    if: "\(condition)"
                    agent: fraud
                \(extra)
                """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
        }

        var config: String { dir + "/run.yaml" }
        var trace: String { dir + "/traces/orders.jsonl" }

        func pgreflex(_ arguments: [String]) async throws -> PostgresCluster.RunResult {
            try await runCapturing([exe] + arguments, in: dir)
        }

        func verify(_ flags: [String] = []) async throws -> PostgresCluster.RunResult {
            try await pgreflex(["trace", "verify", "--config", config, dir + "/traces"] + flags)
        }

        /// The trace file with `edit` applied to each event line's JSON.
        func editTrace(_ edit: (inout [String: Any]) -> Void, header: ((inout [String: Any]) -> Void)? = nil) throws {
            let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map(String.init)
            var out: [String] = []
            for (index, line) in lines.enumerated() {
                var object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                if index == 0 { header?(&object) } else { edit(&object) }
                out.append(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            }
            try (out.joined(separator: "\n") + "\n").write(toFile: trace, atomically: true, encoding: .utf8)
        }

        func remove() {
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    static let decision = #"{"id":"c1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"{\"summary\":\"Hold order 1: large first purchase.\",\"actions\":[{\"tool\":\"place_hold\",\"args\":{\"order_id\":1,\"reason\":\"over 500\"}}],\"citations\":[]}"}}],"usage":{"prompt_tokens":90,"completion_tokens":30,"total_tokens":120}}"#

    /// Records against the scripted model, and runs `body` with the model's server stopped:
    /// everything after the recording must work with no model.
    func recorded(_ w: Workspace, _ body: () async throws -> Void) async throws {
        let replay = ChatReplay([Self.decision])
        let port = try await replay.serving { port in
            try w.configure(port: port)
            let record = try await w.pgreflex(["trace", "record", "--config", w.config, "--events", w.dir + "/events.jsonl", "--out", w.trace])
            #expect(record.status == 0, "\(record.output)")
            #expect(record.output.contains("recorded 2 events") && record.output.contains("1 model reply") && record.output.contains("1 side effect simulated, none sent"), "\(record.output)")
            #expect(replay.requests.count == 1)
            return port
        }
        // The same configuration, its model gone: a verify that asked it would fail.
        try w.configure(port: port)
        try await body()
    }

    @Test func aCleanTraceVerifiesCleanTwiceOfflineAndEachChangeFailsWithItsDiff() async throws {
        let w = try Workspace()
        defer { w.remove() }
        try await recorded(w) {
            for _ in 0..<2 {
                let clean = try await w.verify()
                #expect(clean.status == 0 && clean.output.contains("ok: 2 events in 1 trace as recorded"), "\(clean.output)")
            }
            let trace = try String(contentsOfFile: w.trace, encoding: .utf8)
            #expect(trace.contains(#""status":"simulated""#) && trace.contains(#""replies":[{"#), "\(trace)")

            // A route's predicate: the verdict differs.
            try w.configure(port: 1, condition: "double(event.after.total) > 5000.0")
            let predicate = try await w.verify()
            #expect(predicate.status == 1, "\(predicate.output)")
            #expect(predicate.output.contains("routes.big.verdict\n      - \"matches\"\n      + \"no: the if condition is false\""), "\(predicate.output)")

            // A prompt template: the rendered prompt differs, shown by its changed line.
            try w.configure(port: 1, prompt: "Order {{event.after.id}} costs {{event.after.total}}.")
            let template = try await w.verify()
            #expect(template.status == 1 && template.output.contains("routes.big.calls.0.prompt.1.content"), "\(template.output)")
            #expect(template.output.contains("- \"Order 1 by customer 7: 900.00.\"") && template.output.contains("+ \"Order 1 costs 900.00.\""), "\(template.output)")

            // A tool's parameter renamed: the recorded action no longer validates.
            try w.configure(port: 1, reason: "why")
            let renamed = try await w.verify()
            #expect(renamed.status == 1 && renamed.output.contains("routes.big.calls.0.outcome\n      - \"success\"\n      + \"failure\""), "\(renamed.output)")
            #expect(renamed.output.contains("tools.place_hold takes order_id, why; not reason; missing why"), "\(renamed.output)")

            // Accepted on purpose: update re-records and shows what it accepted; verify is clean again.
            let update = try await w.pgreflex(["trace", "update", "--config", w.config, w.trace])
            #expect(update.status == 0 && update.output.contains("accepted: 1 of 2 events differ") && update.output.contains("routes.big.calls.0.outcome"), "\(update.output)")
            let afterUpdate = try await w.verify()
            #expect(afterUpdate.status == 0, "\(afterUpdate.output)")
        }
    }

    @Test func anEditedReplyChangesTheDecisionAndTolerancesDecideWhatCounts() async throws {
        let w = try Workspace()
        defer { w.remove() }
        try await recorded(w) {
            // The model's recorded reply edited: the decision differs.
            func editReply(summary: String, orderID: Int) throws {
                try w.editTrace { line in
                    guard var recorded = line["recorded"] as? [String: Any], let key = recorded.keys.first,
                          var call = recorded[key] as? [String: Any], var replies = call["replies"] as? [[String: Any]] else { return }
                    var choices = replies[0]["choices"] as! [[String: Any]]
                    var message = choices[0]["message"] as! [String: Any]
                    message["content"] = #"{"summary":"\#(summary)","actions":[{"tool":"place_hold","args":{"order_id":\#(orderID),"reason":"over 500"}}],"citations":[]}"#
                    choices[0]["message"] = message
                    replies[0]["choices"] = choices
                    call["replies"] = replies
                    recorded[key] = call
                    line["recorded"] = recorded
                }
            }
            try editReply(summary: "Hold order 1: large first purchase.", orderID: 2)
            let edited = try await w.verify()
            #expect(edited.status == 1 && edited.output.contains("routes.big.calls.0.decision.actions.0.args.order_id\n      - 1\n      + 2"), "\(edited.output)")

            // Back to the recorded action, with another summary: ignored by the header's tolerance.
            try editReply(summary: "Another wording of the same decision.", orderID: 1)
            let summaryOnly = try await w.verify()
            #expect(summaryOnly.status == 1 && summaryOnly.output.contains("routes.big.calls.0.decision.summary"), "\(summaryOnly.output)")
            try w.editTrace({ _ in }, header: { $0["tolerances"] = [["path": "routes.*.calls.*.decision.summary", "ignore": true]] })
            let ignored = try await w.verify()
            #expect(ignored.status == 0, "\(ignored.output)")

            // A number outside its range fails (the configuration's tolerance, beside the file's).
            try w.configure(port: 1, extra: """
                traces:
                  tolerances:
                    - { path: "routes.*.calls.*.decision.usage.total_tokens", range: [0, 100] }
                """)
            let range = try await w.verify()
            #expect(range.status == 1 && range.output.contains("routes.big.calls.0.decision.usage.total_tokens (outside its range [0, 100])"), "\(range.output)")
            try w.configure(port: 1, extra: """
                traces:
                  tolerances:
                    - { path: "routes.*.calls.*.decision.usage.total_tokens", range: [100, 200] }
                """)
            let inRange = try await w.verify()
            #expect(inRange.status == 0, "\(inRange.output)")

            // Reports for CI: JUnit XML that parses, with the failing event as a failed test case,
            // and JSON.
            try w.configure(port: 1, condition: "double(event.after.total) > 5000.0")
            let junit = try await w.pgreflex(["trace", "verify", "--config", w.config, w.trace, "--format", "junit"])
            #expect(junit.status == 1)
            let xml = try XMLDocument(data: Data(junit.output.utf8))
            let suite = try #require(try xml.nodes(forXPath: "/testsuites/testsuite").first as? XMLElement)
            #expect(suite.attribute(forName: "tests")?.stringValue == "2" && suite.attribute(forName: "failures")?.stringValue == "1")
            let failures = try xml.nodes(forXPath: "//testcase/failure")
            #expect(failures.count == 1 && (failures.first?.stringValue ?? "").contains("routes.big.verdict"), "\(junit.output)")
            let json = try await w.pgreflex(["trace", "verify", "--config", w.config, w.trace, "--format", "json"])
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.output)")
            #expect(report["passed"] as? Bool == false)
        }
    }

    @Test func aUsageErrorExitsTwoAndNamesTheFix() async throws {
        let w = try Workspace()
        defer { w.remove() }
        try w.configure(port: 1)
        let missing = try await w.pgreflex(["trace", "verify", "--config", w.config, w.dir + "/nowhere"])
        #expect(missing.status == 2 && missing.output.contains("no such file or directory"), "\(missing.output)")
        try FileManager.default.createDirectory(atPath: w.dir + "/traces", withIntermediateDirectories: true)
        try "not json\n".write(toFile: w.trace, atomically: true, encoding: .utf8)
        let malformed = try await w.verify()
        #expect(malformed.status == 2 && malformed.output.contains("orders.jsonl:1: the first line is not a trace header"), "\(malformed.output)")
        // A record that fails writes no file.
        let failed = try await w.pgreflex(["trace", "record", "--config", w.config, "--events", w.dir + "/none.jsonl", "--out", w.dir + "/new.jsonl"])
        #expect(failed.status != 0 && !FileManager.default.fileExists(atPath: w.dir + "/new.jsonl"), "\(failed.output)")
    }
}

/// Recording and verifying change nothing: no row, no emitted message, no webhook request,
/// no HTTP call. Events come from a real journal (by table and by id).
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct GoldenTraceSideEffectTests {
    @Test func recordingAndVerifyingLeaveNoRowNoMessageAndNoRequest() async throws {
        let f = try RouteFixture("trside", tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA trside_side; CREATE TABLE trside_side.holds (order_id int);")
        // Capture first, with a route that does nothing, so that the journal holds the orders.
        try f.configure("""
            agents: { quiet: { noop: {} } }
            routes: { seen: { tables: [trside.orders], agent: quiet, start: earliest } }
            """)
        // Two transactions: a range of commit LSNs can hold one of them.
        try f.sql("INSERT INTO orders VALUES (1, 900);")
        try f.sql("INSERT INTO orders VALUES (2, 20);")
        let capture = try await f.runToEndWithoutBlocking()
        #expect(capture.status == 0, "\(capture.output)")
        // Watches the database for what an action would write or emit from here on.
        _ = try f.cluster.psql("SELECT pg_create_logical_replication_slot('trside_watch', 'test_decoding')")
        defer { _ = try? f.cluster.psql("SELECT pg_drop_replication_slot('trside_watch')") }
        try """
            import json, os, sys
            order = json.load(sys.stdin)["after"]
            print(json.dumps({"summary": "dry=" + os.environ.get("PGREFLEX_DRY_RUN", "unset"),
                              "actions": [{"tool": t, "args": {"order_id": order["id"]}} for t in ("hold", "announce", "ping")]}))
            """.write(toFile: f.dir + "/decide.py", atomically: true, encoding: .utf8)
        let receiver = WebhookReceiver { _, _ in (200, nil) }
        try await receiver.serving { port in
            try """
                source: { dsn: "\(f.cluster.conninfo)", slot: trside_slot, publication: trside_pub }
                journal: { directory: ./journal }
                tools:
                  hold: { sql_exec: { statement: "INSERT INTO trside_side.holds VALUES ($1::int)", parameters: [{ name: order_id, type: integer }] } }
                  announce: { emit: { prefix: trside.announce, parameters: [order_id] } }
                  ping: { http: { url: "http://127.0.0.1:\(port)/hook", parameters: [order_id] } }
                agents:
                  decide: { exec: { command: [python3, ./decide.py] }, actions: [hold, announce, ping] }
                  notify: { webhook: { url: "http://127.0.0.1:\(port)/hook" } }
                routes:
                  decide: { tables: [trside.orders], agent: decide }
                  notify: { tables: [trside.orders], agent: notify }
                """.write(toFile: f.dir + "/trace.yaml", atomically: true, encoding: .utf8)
            let config = f.dir + "/trace.yaml"
            let record = f.command(["trace", "record", "--config", config, "--table", "trside.orders", "--out", f.dir + "/traces/orders.jsonl"])
            #expect(record.status == 0 && record.output.contains("recorded 2 events") && record.output.contains("8 side effects simulated, none sent"), "\(record.output)")
            let trace = try String(contentsOfFile: f.dir + "/traces/orders.jsonl", encoding: .utf8)
            #expect(trace.contains(#""summary":"dry=1""#) && !trace.contains(#""status":"done""#), "\(trace)")
            // By id: the second order only; and by a range of commit LSNs, each order alone.
            let ids = trace.matches(of: /"event":\{[^}]*"id":"([0-9a-f]{16})-([0-9a-f]{8})"/).map { (lsn: String($0.1), ordinal: String($0.2)) }
            try #require(ids.count == 2, "\(trace)")
            let byID = f.command(["trace", "record", "--config", config, "--event", "\(ids[1].lsn)-\(ids[1].ordinal)", "--out", f.dir + "/traces/one.jsonl"])
            #expect(byID.status == 0 && byID.output.contains("recorded 1 event"), "\(byID.output)")
            let first = String(UInt64(ids[0].lsn, radix: 16)!), second = String(UInt64(ids[1].lsn, radix: 16)!)
            let to = f.command(["trace", "record", "--config", config, "--to-lsn", first, "--table", "trside.*", "--out", f.dir + "/traces/to.jsonl"])
            let from = f.command(["trace", "record", "--config", config, "--from-lsn", second, "--out", f.dir + "/traces/from.jsonl"])
            #expect(to.status == 0 && to.output.contains("recorded 1 event") && from.status == 0 && from.output.contains("recorded 1 event"), "\(to.output) \(from.output)")
            #expect(try String(contentsOfFile: f.dir + "/traces/from.jsonl", encoding: .utf8).contains(#""id":2"#))
            for _ in 0..<2 {
                let verify = f.command(["trace", "verify", "--config", config, f.dir + "/traces"])
                #expect(verify.status == 0 && verify.output.contains("ok: 5 events in 4 traces as recorded"), "\(verify.output)")
            }
        }
        #expect(receiver.requests.isEmpty, "a webhook or an http action was sent")
        #expect(try f.cluster.psql("SELECT count(*) FROM trside_side.holds").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let written = try f.cluster.psql("SELECT count(*) FROM pg_logical_slot_peek_changes('trside_watch', NULL, NULL) WHERE data LIKE 'message:%' OR data LIKE '%trside_side%'")
        #expect(written.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    /// `--event ID` finds an event the journal no longer holds in the dead-letter queue, which
    /// keeps its envelope; an id neither holds is an error that says what to do.
    @Test func anEventTheJournalLetGoComesFromTheDeadLetterQueue() async throws {
        let f = try RouteFixture("trdlq", tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric);")
        defer { f.remove() }
        try f.configure("""
            agents: { fails: { exec: { command: [/bin/false] } } }
            routes: { r: { tables: [trdlq.orders], agent: fails, retries: { attempts: 1 }, start: earliest } }
            """)
        try f.sql("INSERT INTO orders VALUES (1, 900);")
        let run = try await f.runToEndWithoutBlocking()
        #expect(run.status == 0, "\(run.output)")
        let letters = f.command(["dlq", "list", "--config", f.config, "--format", "json"]).output
        let id = try #require(letters.firstMatch(of: /"event_id":"([0-9a-f]{16}-[0-9a-f]{8})"/)?.1, "\(letters)")
        try FileManager.default.removeItem(atPath: f.dir + "/journal")
        try FileManager.default.createDirectory(atPath: f.dir + "/journal", withIntermediateDirectories: true)
        let record = f.command(["trace", "record", "--config", f.config, "--event", String(id), "--out", f.dir + "/t.jsonl"])
        #expect(record.status == 0 && record.output.contains("recorded 1 event"), "\(record.output)")
        let trace = try String(contentsOfFile: f.dir + "/t.jsonl", encoding: .utf8)
        #expect(trace.contains(#""id":"\#(id)""#) && trace.contains(#""total":"900""#), "\(trace)")
        let unknown = f.command(["trace", "record", "--config", f.config, "--event", "00000000ffffffff-00000000", "--out", f.dir + "/u.jsonl"])
        #expect(unknown.status != 0 && unknown.output.contains("neither the journal") && !FileManager.default.fileExists(atPath: f.dir + "/u.jsonl"), "\(unknown.output)")
    }
}
