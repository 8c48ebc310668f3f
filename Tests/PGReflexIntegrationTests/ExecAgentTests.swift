import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `exec` agent end to end: real changes, `pgreflex run`, and a real Python program that
/// reads the event on stdin and answers on stdout.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct ExecAgentTests {
    /// Answers each ticket with a classification; exits 75 on its first attempt at ticket 2
    /// (EX_TEMPFAIL: tried again), 3 for ticket 3 (dead-lettered); logs what it saw.
    static let classifier = #"""
        import json, os, sys
        event = json.load(sys.stdin)
        row = event["after"]
        with open(os.environ["CALL_LOG"], "a") as log:
            log.write(json.dumps({"id": os.environ["PGREFLEX_EVENT_ID"], "attempt": int(os.environ["PGREFLEX_ATTEMPT"]),
                                  "key": os.environ["PGREFLEX_IDEMPOTENCY_KEY"], "env": sorted(os.environ)}) + "\n")
        if row["id"] == 2 and os.environ["PGREFLEX_ATTEMPT"] == "1":
            print("database busy", file=sys.stderr); sys.exit(75)
        if row["id"] == 3:
            print("cannot classify an empty subject", file=sys.stderr); sys.exit(3)
        print(json.dumps({"summary": "billing" if "invoice" in row["subject"] else "general", "actions": [], "citations": [event["id"]]}))
        """#

    @Test func anExecAgentAnswersOnStdoutRetriesOnTempFailAndDeadLettersOtherExits() throws {
        let f = try RouteFixture("exec", tables: "CREATE TABLE tickets (id int PRIMARY KEY, subject text);")
        defer { f.remove() }
        try Self.classifier.write(toFile: f.dir + "/classify.py", atomically: true, encoding: .utf8)
        try f.configure("""
            agents:
              classify: { exec: { command: [python3, ./classify.py], env: { CALL_LOG: \(f.dir)/calls.jsonl }, pass_env: [EXEC_TEST_PASSED] } }
            routes:
              classify: { tables: [exec.tickets], agent: classify, retries: { attempts: 3, backoff: { initial: 10ms, max: 20ms } }, start: earliest }
            """)
        try f.sql("INSERT INTO tickets VALUES (1, 'invoice is wrong'), (2, 'login fails'), (3, ''), (4, 'second invoice');")
        let run = try f.runToEnd(environment: ["EXEC_TEST_PASSED": "yes", "EXEC_TEST_SECRET": "must-not-reach-the-agent"])
        #expect(run.status == 0, "\(run.output)")
        let stopped = RouteFixture.stopped("classify", in: run.output)
        #expect(stopped["route.succeeded"] == "3" && stopped["route.dead_lettered"] == "1" && stopped["route.retries"] == "1", "\(stopped)")

        let calls = try String(contentsOfFile: f.dir + "/calls.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(calls.count == 5, "four events, one tried twice: \(calls.count)")
        // python3 may be a shim (pyenv) that adds its own; pgreflex's other variables never arrive.
        let env = Set(calls.first?["env"] as? [String] ?? [])
        #expect(env.isSuperset(of: ["CALL_LOG", "EXEC_TEST_PASSED", "LANG", "PATH", "PGREFLEX_AGENT", "PGREFLEX_ATTEMPT", "PGREFLEX_EVENT_COUNT",
                                    "PGREFLEX_EVENT_ID", "PGREFLEX_IDEMPOTENCY_KEY", "PGREFLEX_ROUTE", "TRACEPARENT"]), "\(env.sorted())")
        #expect(!env.contains("EXEC_TEST_SECRET") && !env.contains("HOME") && !env.contains("USER"), "only what the config names: \(env.sorted())")
        let retried = calls.filter { ($0["attempt"] as? Int) == 2 }
        let firstTry = calls.first { ($0["id"] as? String) == retried.first?["id"] as? String && ($0["attempt"] as? Int) == 1 }
        #expect(retried.count == 1 && firstTry?["key"] as? String == retried.first?["key"] as? String, "a retry keeps its idempotency key")

        let letters = f.command(["dlq", "list", "--config", f.config, "--format", "json"])
        #expect(letters.output.contains("exited 3: cannot classify an empty subject"), "\(letters.output)")
        let results = f.command(["results", "list", "--config", f.config, "--format", "json"])
        let outputs = results.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(outputs.count == 3, "\(results.output)")
        #expect(outputs.allSatisfy { ($0["duration_ms"] as? Double ?? 0) > 0 }, "each outcome keeps its call's latency: \(results.output)")
        let summaries = outputs.compactMap { ($0["output"] as? [String: Any])?["summary"] as? String }
        #expect(summaries.sorted() == ["billing", "billing", "general"], "\(results.output)")
        let first = try #require(outputs.first?["event_id"] as? String)
        let show = f.command(["results", "show", "--config", f.config, "--event", first])
        #expect(show.status == 0 && show.output.contains("\"citations\":[\"\(first)\"]"), "\(show.output)")
    }

    /// A command may ignore its input: large payloads and commands that exit at once neither
    /// block nor bring pgreflex down (a piped stdin once made swift-subprocess trap).
    @Test func aCommandThatNeverReadsItsInputIsFine() throws {
        let f = try RouteFixture("execnoread", tables: "CREATE TABLE docs (id int PRIMARY KEY, body text);")
        defer { f.remove() }
        try f.configure("""
            agents:
              ignores: { exec: { command: [/bin/true] } }
              fails: { exec: { command: [/bin/false] } }
            routes:
              ignored: { tables: [execnoread.docs], agent: ignores }
              failed: { tables: [execnoread.docs], if: "event.after.id == 1", agent: fails, retries: { attempts: 1 } }
            """)
        try f.sql("INSERT INTO docs SELECT g, repeat('x', 200000) FROM generate_series(1, 20) g;")
        let run = try f.runToEnd()
        #expect(run.status == 0, "\(run.output.suffix(2000))")
        #expect(RouteFixture.stopped("ignored", in: run.output)["route.succeeded"] == "20", "\(run.output.suffix(2000))")
        #expect(RouteFixture.stopped("failed", in: run.output)["route.dead_lettered"] == "1", "\(run.output.suffix(2000))")
    }

    /// A command that outlives its timeout is killed with everything it started: its process
    /// group gets SIGTERM, then SIGKILL.
    @Test func aTimeoutKillsTheWholeProcessGroup() throws {
        let f = try RouteFixture("exectime", tables: "CREATE TABLE jobs (id int PRIMARY KEY);")
        defer { f.remove() }
        try """
            #!/bin/sh
            sleep 300 &
            echo $! > "$PID_FILE"
            trap '' TERM
            sleep 300
            """.write(toFile: f.dir + "/stuck.sh", atomically: true, encoding: .utf8)
        chmod(f.dir + "/stuck.sh", 0o755)
        try f.configure("""
            agents:
              stuck: { exec: { command: [./stuck.sh], env: { PID_FILE: \(f.dir)/child.pid }, timeout: 1s } }
            routes:
              stuck: { tables: [exectime.jobs], agent: stuck, retries: { attempts: 1 }, start: earliest }
            """)
        try f.sql("INSERT INTO jobs VALUES (1);")
        let started = ContinuousClock.now
        let run = try f.runToEnd()
        #expect(run.status == 0, "\(run.output)")
        #expect(started.duration(to: .now) < .seconds(60), "the call was cut at its timeout")
        let stopped = RouteFixture.stopped("stuck", in: run.output)
        #expect(stopped["route.dead_lettered"] == "1", "\(stopped)")
        let letters = f.command(["dlq", "list", "--config", f.config])
        #expect(letters.output.contains("ran longer than 1.0 seconds: its process group was killed"), "\(letters.output)")
        let child = try #require(pid_t(try String(contentsOfFile: f.dir + "/child.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<50 {
            if kill(child, 0) != 0 && errno == ESRCH { gone = true; break }
            usleep(100_000)
        }
        #expect(gone, "the command's own child (pid \(child)) was killed with it")
    }

    @Test func aMissingProgramIsAConfigurationError() throws {
        let f = try RouteFixture("execbad", tables: "CREATE TABLE jobs (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.configure("""
            agents:
              gone: { exec: { command: [no-such-program-here] } }
            routes:
              gone: { tables: [execbad.jobs], agent: gone }
            """)
        let check = f.command(["check", "--config", f.config])
        #expect(check.status != 0 && check.output.contains("agents.gone.exec.command: no-such-program-here is not in PATH"), "\(check.output)")
    }
}

/// The seeds' workflows as shipped in examples/ (agents.yaml, agents.sql, agents/*.py), run
/// as a user would run them, on the demo's tables.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct ExampleAgentsTests {
    @Test func theSeedsWorkflowsRunFromTheExamples() throws {
        let cluster = try PostgresCluster.required()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = NSTemporaryDirectory() + "pgreflex-examples-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: root + "/examples/agents", toPath: dir + "/agents")
        try FileManager.default.copyItem(atPath: root + "/examples/agents.yaml", toPath: dir + "/agents.yaml")
        try FileManager.default.copyItem(atPath: root + "/Schemas", toPath: dir + "/Schemas")
        try cluster.psqlFile(root + "/examples/demo.sql")
        try cluster.psqlFile(root + "/examples/agents.sql")
        try cluster.createSlot("agents_slot")
        try cluster.psql("""
            INSERT INTO inventory VALUES ('SKU-1', 1, 40, '{"reorder_point": 25}');
            INSERT INTO orders (customer_id, total_amount, status, is_first_order) VALUES
              (7, 900, 'new', false), (7, 650, 'new', false), (8, 20, 'new', true), (7, 720, 'new', false), (9, 30, 'new', false);
            INSERT INTO support_tickets (order_id, priority, subject) VALUES (1, 2, 'Refund for a double charge'), (2, 1, 'Package is late');
            UPDATE inventory SET attrs = '{"reorder_point": 25, "audited": true}';
            UPDATE inventory SET quantity_on_hand = 12;
            """)
        let exe = try pgreflexExecutable()
        // Until quiet: the breach agent's derived event comes back through the WAL mid-run.
        let run = PostgresCluster.run([exe, "run", "--config", dir + "/agents.yaml", "--idle-exit", "3"], directory: dir,
                                      environment: ["PGREFLEX_DSN": cluster.conninfo, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        #expect(run.status == 0, "\(run.output.suffix(2000))")
        func rows(_ sql: String) throws -> String { try cluster.psql(sql).trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(try rows("SELECT string_agg(order_id || ':' || reason, ',' ORDER BY order_id) FROM ops.payment_holds")
                == "1:total 900.00 is over 500,2:total 650.00 is over 500,3:first order,4:total 720.00 is over 500", "over 500, or a first order")
        #expect(try rows("SELECT string_agg(id || ':' || array_to_string(tags, '+') || ':' || priority, ',' ORDER BY id) FROM support_tickets")
                == "1:billing:2,2:shipping:1", "classified and prioritized in place; the update woke nobody")
        #expect(try rows("SELECT sku || ':' || quantity FROM ops.purchase_order_drafts") == "SKU-1:38", "one draft: the audit-only update woke nobody")
        #expect(try rows("SELECT customer_id || ':' || order_ids::text FROM ops.risk_tickets") == "7:[1, 2, 4]", "the derived breach event opened one ticket")
        let results = PostgresCluster.run([exe, "results", "list", "--config", dir + "/agents.yaml"], directory: dir, environment: ["PGREFLEX_DSN": cluster.conninfo])
        #expect(results.output.split(separator: "\n").count == 1 + 4 + 2 + 1 + 1 + 1,
                "\(results.output)\n\(PostgresCluster.run([exe, "dlq", "list", "--config", dir + "/agents.yaml"], directory: dir, environment: ["PGREFLEX_DSN": cluster.conninfo]).output)\n\(run.output.suffix(3000))")
        #expect(results.output.contains("risk\trisk\t"), "\(results.output)")
    }

    @Test func theModelDrivenExampleChecksAgainstTheRegistry() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let check = PostgresCluster.run([try pgreflexExecutable(), "check", "--config", root + "/examples/agents-llm.yaml", "--registry", root + "/Schemas"],
                                        environment: ["PGREFLEX_DSN": "host=/tmp dbname=app", "PGREFLEX_LLM_URL": "http://127.0.0.1:8080/v1"])
        #expect(check.status == 0 && check.output.contains("2 agents, 2 routes, routes checked against"), "\(check.output)")
    }
}
