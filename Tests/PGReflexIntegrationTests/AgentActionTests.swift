import Foundation
import GRDB
import PGReflexTestSupport
import PGReflexTools
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Agents acting through typed tools: an `exec` agent's outcome names actions, pgreflex runs
/// them through `sql_exec` and `emit` under `<call key>:<index>`, with their receipts in the
/// database, so kill -9, restarts and forced replays never act twice.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct AgentActionTests {
    /// Flags big orders and announces them; writes what it was given to a log.
    static let decider = #"""
        import json, os, sys, time
        raw = sys.stdin.read()
        with open(os.environ["SEEN"], "a") as seen:
            seen.write(raw + "\n")
        row = json.loads(raw)["after"]
        time.sleep(0.01)
        if float(row["total"]) <= 500:
            print(json.dumps({"summary": "small", "actions": []}))
        else:
            actions = [{"tool": "flag", "arguments": {"order_id": row["id"], "email": row.get("email")}},
                       {"tool": "announce", "arguments": {"order_id": row["id"]}}]
            if row["id"] == 13:
                actions.insert(1, {"tool": "refuse", "arguments": {"order_id": row["id"]}})
            print(json.dumps({"summary": "flag it", "actions": actions}))
        """#

    func configure(_ f: RouteFixture) throws {
        try Self.decider.write(toFile: f.dir + "/decide.py", atomically: true, encoding: .utf8)
        try "k1:\(Data((0..<32).map { UInt8($0) }).base64EncodedString())\n".write(toFile: f.dir + "/privacy.keys", atomically: true, encoding: .utf8)
        chmod(f.dir + "/privacy.keys", 0o600)
        try f.configure("""
            privacy:
              keys: { file: ./privacy.keys }
              columns:
                - { match: "\(f.name).orders.email", policy: tokenize }
            tools:
              flag:
                sql_exec:
                  statement: "INSERT INTO \(f.name)_side.flags (order_id, email) VALUES ($1::int, $2)"
                  compensate: "DELETE FROM \(f.name)_side.flags WHERE order_id = $1::int"
                  parameters: [order_id, { name: email, detokenize: true }]
              refuse:
                sql_exec: { statement: "SELECT 1/0 WHERE $1::int > 0", parameters: [order_id] }
              announce:
                emit: { prefix: pgreflex.test, parameters: [order_id] }
            agents:
              decide: { exec: { command: [python3, ./decide.py], env: { SEEN: \(f.dir)/seen.jsonl } }, actions: [flag, refuse, announce] }
            routes:
              decide: { tables: [\(f.name).orders], agent: decide, concurrency: 4, retries: { attempts: 2, backoff: { initial: 10ms, max: 10ms } }, start: earliest }
            """)
    }

    @Test func actionsRunOnceAcrossTenKillNinesAndAForcedReplay() throws {
        let f = try RouteFixture("act", tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric, email text);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA act_side; CREATE TABLE act_side.flags (order_id int, email text);")
        try configure(f)
        // 400 orders, every other one big, in 40 transactions while pgreflex is killed ten times;
        // order 13 is big and its second action always fails.
        let workload = PostgresCluster.spawn(["psql", f.cluster.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", """
            DO $$ BEGIN FOR i IN 0..39 LOOP
              INSERT INTO act.orders SELECT g, CASE WHEN g % 2 = 1 THEN 900 ELSE 100 END, 'buyer' || g || '@example.com'
                FROM generate_series(i * 10 + 1, i * 10 + 10) g; COMMIT;
              PERFORM pg_sleep(0.05);
            END LOOP; END $$;
            """])
        var random = SplitMix64(seed: 20261130)
        let log = f.dir + "/run.log"
        for _ in 0..<10 {
            let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config, "--log-level", "warning"], standardError: log)
            usleep(UInt32.random(in: 300_000...900_000, using: &random))
            kill(pid, SIGKILL)
            _ = PostgresCluster.wait(pid)
        }
        #expect(PostgresCluster.wait(workload) == 0)
        let final = try f.runToEnd()
        #expect(final.status == 0, "\(final.output)")

        func count(_ sql: String) throws -> Int { Int(try f.cluster.psql(sql).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        // 200 big orders; 13's flag was compensated when its refuse action failed for good.
        #expect(try count("SELECT count(*) FROM act_side.flags") == 199)
        #expect(try count("SELECT count(DISTINCT order_id) FROM act_side.flags") == 199)
        #expect(try count("SELECT count(*) FROM act_side.flags WHERE order_id = 13") == 0, "\((try? f.cluster.psql("SELECT * FROM act_side.flags ORDER BY order_id LIMIT 8")) ?? "")")
        #expect(try count("SELECT count(*) FROM act_side.flags WHERE email = 'buyer1@example.com'") == 1, "the tool got the detokenized email")
        #expect(try count("SELECT count(*) FROM pgreflex.action_receipts WHERE tool = 'announce'") == 199, "\((try? f.cluster.psql("SELECT tool, count(*) FROM pgreflex.action_receipts GROUP BY 1")) ?? "")")
        let letters = f.command(["dlq", "list", "--config", f.config])
        #expect(letters.output.contains("action 1 (refuse)") && letters.output.contains("compensated: flag"), "\(f.command(["dlq", "list", "--config", f.config, "--format", "json"]).output)")
        #expect(!letters.output.contains("@example.com"), "no raw email in an error: \(letters.output)")

        // Each big order's decision was recorded before its actions ran, exec's stdout as an LLM's.
        let decisions = try DatabaseQueue(path: f.dir + "/state/state.sqlite").read { db in
            try Int.fetchOne(db, sql: "SELECT count(DISTINCT event_id) FROM decisions WHERE route = 'decide' AND number = 1")
        }
        #expect(decisions == 200)

        // The agent never saw a raw email: only tokens.
        let seen = try String(contentsOfFile: f.dir + "/seen.jsonl", encoding: .utf8)
        #expect(!seen.contains("@example.com") && seen.contains("tok:k1:"))

        // A forced replay runs the agent again with the same keys: every action is already done.
        let replay = f.command(["replay", "--config", f.config, "--route", "decide", "--from-lsn", "0/0", "--force"])
        #expect(replay.status == 0, "\(replay.output)")
        #expect(try count("SELECT count(*) FROM act_side.flags") == 199)
        let results = f.command(["results", "list", "--config", f.config, "--format", "json"])
        #expect(results.output.contains("\"status\":\"already_done\""), "\(results.output.suffix(1500))")
        #expect(!results.output.contains("@example.com"), "no raw email in a result")
    }

    @Test func anActionTheAgentMayNotTakeIsRefused() throws {
        let f = try RouteFixture("actno", tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric, email text);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA actno_side; CREATE TABLE actno_side.flags (order_id int, email text);")
        try configure(f)
        // The same agent, allowed only to announce: its decision to flag is refused.
        let text = try String(contentsOfFile: f.config, encoding: .utf8)
        try text.replacingOccurrences(of: "actions: [flag, refuse, announce]", with: "actions: [announce]").write(toFile: f.config, atomically: true, encoding: .utf8)
        try f.sql("INSERT INTO orders VALUES (1, 900, 'a@example.com');")
        let run = try f.runToEnd()
        #expect(RouteFixture.stopped("decide", in: run.output)["route.dead_lettered"] == "1", "\(run.output.suffix(1500))")
        let letters = f.command(["dlq", "list", "--config", f.config])
        #expect(letters.output.contains("flag is not one of this agent's actions (announce)"), "\(letters.output)")

        // Allowed to flag and announce, but announce wants a string: the second action does not
        // validate, so the first never runs either.
        try text.replacingOccurrences(of: "actions: [flag, refuse, announce]", with: "actions: [flag, announce]")
            .replacingOccurrences(of: "emit: { prefix: pgreflex.test, parameters: [order_id] }", with: "emit: { prefix: pgreflex.test, parameters: [{ name: order_id, type: string }] }")
            .write(toFile: f.config, atomically: true, encoding: .utf8)
        try f.sql("INSERT INTO orders VALUES (3, 900, 'c@example.com');")
        let typed = try f.runToEnd()
        #expect(RouteFixture.stopped("decide", in: typed.output)["route.dead_lettered"] == "1", "\(typed.output.suffix(1500))")
        let second = f.command(["dlq", "list", "--config", f.config]).output
        #expect(second.contains("action 1: tools.announce: order_id must be a string") && second.contains("the answer was: {"), "\(second)")
        #expect(try f.cluster.psql("SELECT count(*) FROM actno_side.flags").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}

extension AgentActionTests {
    /// One flag per 3 s at most, across orders: a decision over the limit waits for its slot
    /// without spending its attempts or its 1 s timeout (issue 35: it used to time out twice and
    /// be dead-lettered), up to max_wait in all; past that it is dead-lettered with the reason.
    @Test func actionLimitsMakeCallsWaitNotFail() throws {
        let f = try RouteFixture("actlim", tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric, email text);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA actlim_side; CREATE TABLE actlim_side.flags (order_id int, email text, at timestamptz DEFAULT clock_timestamp());")
        try configure(f)
        let text = try String(contentsOfFile: f.config, encoding: .utf8)
            .replacingOccurrences(of: "actions: [flag, refuse, announce] }",
                                  with: "actions: [flag, refuse, announce], action_limits: [{ tool: flag, limit: 1, period: 3s, max_wait: 5s }] }")
            .replacingOccurrences(of: "retries: { attempts: 2, backoff: { initial: 10ms, max: 10ms } }",
                                  with: "retries: { attempts: 2, backoff: { initial: 10ms, max: 10ms }, timeout: 1s }")
        try text.write(toFile: f.config, atomically: true, encoding: .utf8)
        try f.sql("INSERT INTO orders VALUES (1, 900, 'a@example.com'), (3, 900, 'c@example.com'), (5, 900, 'e@example.com');")
        let run = try f.runToEnd()
        let stopped = RouteFixture.stopped("decide", in: run.output)
        #expect(run.status == 0 && stopped["route.succeeded"] == "2" && stopped["route.dead_lettered"] == "1", "\(run.output.suffix(1500))")
        let spread = try f.cluster.psql("SELECT extract(epoch FROM max(at) - min(at)) FROM actlim_side.flags").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect((Double(spread) ?? 0) >= 2.8, "two flags one slot apart: \(spread) s")
        #expect(try f.cluster.psql("SELECT count(*) FROM actlim_side.flags").trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        // The third would have waited 6 s in all, past max_wait: dead-lettered with that reason, its timeout never reached.
        let letters = f.command(["dlq", "list", "--config", f.config]).output
        #expect(letters.contains("max_wait (5.0 seconds)") && !letters.contains("timeout"), "\(letters)")
    }
}

extension AgentActionTests {
    /// A decision with more actions under one limit's key than its burst lets through at once
    /// could never take its slots: it used to wait out max_wait (ten minutes by default) and
    /// fail then. It fails at once, saying why; with the burst raised it runs.
    @Test func aDecisionThatCouldNeverFitItsLimitFailsAtOnce() throws {
        for (name, burst, expectLetter) in [("actfit", "", true), ("actfit2", ", burst: 2", false)] {
            let f = try RouteFixture(name, tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric, email text);")
            defer { f.remove() }
            try f.cluster.psql("CREATE SCHEMA \(name)_side; CREATE TABLE \(name)_side.flags (order_id int, email text);")
            try configure(f)
            // One limit over every action, no key: a decision's flag and announce share its key.
            let text = try String(contentsOfFile: f.config, encoding: .utf8)
                .replacingOccurrences(of: "actions: [flag, refuse, announce] }",
                                      with: "actions: [flag, refuse, announce], action_limits: [{ limit: 10, period: 1m\(burst) }] }")
            try text.write(toFile: f.config, atomically: true, encoding: .utf8)
            try f.sql("INSERT INTO orders VALUES (1, 900, 'a@example.com');")
            let started = Date()
            let run = try f.runToEnd()
            #expect(run.status == 0 && Date().timeIntervalSince(started) < 60, "\(run.output.suffix(1500))")
            let letters = f.command(["dlq", "list", "--config", f.config]).output
            #expect(letters.contains("more than its burst (1) lets through at once, so it could never run") == expectLetter, "\(letters)")
            #expect(try f.cluster.psql("SELECT count(*) FROM \(name)_side.flags").trimmingCharacters(in: .whitespacesAndNewlines) == (expectLetter ? "0" : "1"))
        }
    }
}

/// The loop guard: agents whose actions write the very table that wakes them.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct LoopGuardTests {
    /// Every order over 500 gets a follow-up order `STEP` ids on, over 500 too: a loop.
    static let echo = #"""
        import json, os, sys
        row = json.load(sys.stdin)["after"]
        step = int(os.environ["STEP"])
        print(json.dumps({"summary": "follow up", "actions": [{"tool": "follow_up", "arguments": {"id": row["id"] + step, "total": row["total"]}}]}))
        """#

    /// Runs agent `a` (and `b` when `second`) on one orders table until it is quiet.
    func run(_ name: String, agentChanges: String, second: Bool = false, toolRole: String? = nil) throws -> (ids: [Int], output: String, f: RouteFixture) {
        let f = try RouteFixture(name, tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric);")
        try Self.echo.write(toFile: f.dir + "/echo.py", atomically: true, encoding: .utf8)
        var dsn = ""
        var environment: [String: String] = [:]
        if let toolRole {
            try f.cluster.psql("""
                DO $$ BEGIN CREATE ROLE \(toolRole) LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
                GRANT CREATE ON DATABASE postgres TO \(toolRole);
                GRANT USAGE ON SCHEMA \(name) TO \(toolRole); GRANT INSERT ON \(name).orders TO \(toolRole);
                \(SQLTool.receiptsDDL)
                GRANT USAGE ON SCHEMA pgreflex TO \(toolRole);
                GRANT INSERT, SELECT, UPDATE ON pgreflex.action_receipts TO \(toolRole);
                """)
            environment["TOOL_DSN"] = f.cluster.conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(toolRole)")
            dsn = ", dsn_env: TOOL_DSN"
        }
        try f.configure("""
            tools:
              follow_up: { sql_exec: { statement: "INSERT INTO \(name).orders VALUES ($1::int, $2::numeric) ON CONFLICT DO NOTHING", parameters: [id, total]\(dsn) } }
            agents:
              a: { exec: { command: [python3, ./echo.py], env: { STEP: "1000" } }, actions: [follow_up] }
              b: { exec: { command: [python3, ./echo.py], env: { STEP: "100" } }, actions: [follow_up] }
            routes:
              a: { tables: [\(name).orders], agent: a, if: "double(event.after.total) > 500.0", agent_changes: \(agentChanges), start: earliest }
            \(second ? "  b: { tables: [\(name).orders], agent: b, if: \"double(event.after.total) > 500.0 && event.after.id < 1000\", start: earliest }" : "")
            """)
        try f.sql("INSERT INTO orders VALUES (1, 900);")
        let run = f.command(["run", "--config", f.config, "--idle-exit", "3"], environment: environment)
        let ids = try f.cluster.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM \(name).orders").trimmingCharacters(in: .whitespacesAndNewlines)
        return (ids.split(separator: ",").compactMap { Int($0) }, run.output, f)
    }

    @Test func anAgentsOwnChangesDoNotWakeItByDefault() throws {
        let (ids, output, f) = try run("loopown", agentChanges: "others")
        defer { f.remove() }
        #expect(ids == [1, 1001], "\(output.suffix(1500))")
        #expect(RouteFixture.stopped("a", in: output)["route.skipped"] == "1", "\(output.suffix(1500))")
    }

    @Test func otherAgentsSeeAnAgentsChanges() throws {
        // 1 wakes a (→ 1001) and b (→ 101). b's 101 wakes a (→ 1101) but not b; a's changes
        // would wake b, but b's condition wants ids under 1000.
        let (ids, output, f) = try run("loopothers", agentChanges: "others", second: true)
        defer { f.remove() }
        #expect(ids == [1, 101, 1001, 1101], "\(output.suffix(1500))")
    }

    @Test func allowedChainsStopThreeDeepWithASkip() throws {
        let (ids, output, f) = try run("loopallow", agentChanges: "allow")
        defer { f.remove() }
        #expect(ids == [1, 1001, 2001, 3001], "\(output.suffix(1500))")
        #expect(output.contains("the chain stops here (loop guard)"), "\(output.suffix(1500))")
        // Skipped with its reason, not dead-lettered: there is nothing to retry (issue 26).
        let letters = f.command(["dlq", "list", "--config", f.config])
        #expect(!letters.output.contains("loop_guard"), "\(letters.output)")
        #expect(f.status()["a"]?["dead_letters"] == "0")
        #expect(f.status()["a"]?["skipped"]?.contains("loop_guard=1") == true, "\(f.command(["route", "status", "--config", f.config]).output)")
    }

    /// Changes an agent's tool writes carry their own commit time, not the tool session's first
    /// (issue 26: four audit rows 4 s apart all carried the first one's source.ts_ms).
    @Test func agentWrittenChangesCarryTheirOwnCommitTime() async throws {
        let name = "loopts"
        let f = try RouteFixture(name, tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric, at timestamptz DEFAULT clock_timestamp());")
        defer { f.remove() }
        try Self.echo.write(toFile: f.dir + "/echo.py", atomically: true, encoding: .utf8)
        try f.configure("""
            tools:
              follow_up: { sql_exec: { statement: "INSERT INTO \(name).orders (id, total) VALUES ($1::int, $2::numeric) ON CONFLICT DO NOTHING", parameters: [id, total] } }
            agents:
              a: { exec: { command: [python3, ./echo.py], env: { STEP: "1000" } }, actions: [follow_up] }
              rec: { file: { path: ./rec.jsonl } }
            routes:
              a: { tables: [\(name).orders], agent: a, if: "double(event.after.total) > 500.0 && event.after.id < 1000", start: earliest }
              rec: { tables: [\(name).orders], agent: rec, start: earliest }
            """)
        let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config], standardError: f.dir + "/run.log")
        for id in 1...3 {
            try f.sql("INSERT INTO orders (id, total) VALUES (\(id), 900);")
            try await Task.sleep(for: .milliseconds(1500))
        }
        // Until the three derived changes are recorded (a loaded machine runs the agents slowly).
        for _ in 0..<600 where (try f.lines("rec.jsonl")).count < 6 { try await Task.sleep(for: .milliseconds(100)) }
        kill(pid, SIGTERM)
        #expect(PostgresCluster.wait(pid) == 0, "\((try? String(contentsOfFile: f.dir + "/run.log", encoding: .utf8)) ?? "")")
        let lines = try f.lines("rec.jsonl")
        let derived = lines.compactMap { line -> (Double, Double)? in
            guard let after = line.json["after"] as? [String: Any], let id = after["id"] as? Int, id > 1000,
                  let source = line.json["source"] as? [String: Any], let ts = source["ts_ms"] as? Double,
                  let at = after["at"] as? String else { return nil }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let date = formatter.date(from: at) ?? ISO8601DateFormatter().date(from: at) else { return nil }
            return (ts, date.timeIntervalSince1970 * 1000)
        }
        #expect(derived.count == 3, "\(lines.map(\.json))")
        for (committed, written) in derived {
            #expect(abs(committed - written) < 1000, "source.ts_ms \(committed) vs the row's clock_timestamp() \(written)")
        }
    }

    @Test func aRoleWithoutOriginsTagsItsWritesInstead() throws {
        let (ids, output, f) = try run("looptag", agentChanges: "others", toolRole: "pgreflex_tool_user")
        defer { f.remove() }
        #expect(output.contains("tagged with a logical message instead"), "\(output.suffix(1500))")
        #expect(ids == [1, 1001], "\(f.command(["dlq", "list", "--config", f.config]).output)")
        #expect(RouteFixture.stopped("a", in: output)["route.skipped"] == "1", "\(output.suffix(1500))")
    }
}
