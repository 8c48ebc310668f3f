import Foundation
import PGReflexTestSupport
import Testing

/// Outcomes that must hold across a kill -9 while another key's call is in flight: the route's
/// cursor then stays behind events already dealt with, and the restart reads them again.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct RestartOutcomeTests {
    /// Order 11 sleeps (its call is in flight at the kill); order 12 is refused at once
    /// (non-JSON output is a permanent error). Each call is logged to SEEN.
    static let agent = #"""
        import json, os, sys, time
        row = json.load(sys.stdin)["after"]
        with open(os.environ["SEEN"], "a") as seen:
            seen.write(f"{row['id']}\n")
        if row["id"] == 11:
            # Until pgreflex is gone (kill -9 leaves this process to init).
            parent = os.getppid()
            for _ in range(6000):
                if os.getppid() != parent:
                    sys.exit(1)
                time.sleep(0.05)
        if row["id"] == 12:
            print("not json")
        else:
            print(json.dumps({"summary": "ok"}))
        """#

    @Test func aDeadLetteredEventIsNotRunOrDeadLetteredAgainAfterAKillNine() async throws {
        let f = try RouteFixture("dlqonce", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try Self.agent.write(toFile: f.dir + "/agent.py", atomically: true, encoding: .utf8)
        try f.configure("""
            agents:
              slow: { exec: { command: [python3, ./agent.py], env: { SEEN: \(f.dir)/seen.txt }, timeout: 5m } }
            routes:
              r: { tables: [\(f.name).orders], agent: slow, concurrency: 4, retries: { attempts: 3, timeout: 5m }, start: earliest }
            """)
        try f.sql("INSERT INTO orders VALUES (11);")
        try f.sql("INSERT INTO orders VALUES (12);")
        func seen() -> [String] {
            ((try? String(contentsOfFile: f.dir + "/seen.txt", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        func letters() -> Int { Int(f.status()["r"]?["dead_letters"] ?? "") ?? -1 }
        for round in 1...3 {
            let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config, "--log-level", "warning"], standardError: f.dir + "/run\(round).log")
            // Until 11 is in flight (again, after a restart), and in round 1 until 12 is
            // dead-lettered. The file is cheap to poll; `route status` (a process) only then.
            for _ in 0..<600 {
                if seen().filter({ $0 == "11" }).count >= round && (round > 1 || seen().contains("12")) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            if round == 1 {
                for _ in 0..<60 where letters() != 1 { try await Task.sleep(for: .seconds(1)) }
            } else {
                // A moment for a wrong second run of 12 to show.
                try await Task.sleep(for: .milliseconds(1500))
            }
            kill(pid, SIGKILL)
            _ = PostgresCluster.wait(pid)
        }
        let logs = (1...3).map { (try? String(contentsOfFile: f.dir + "/run\($0).log", encoding: .utf8)) ?? "" }.joined(separator: "\n---\n")
        // 11 runs again after each restart (a loaded machine may start it once more, never fewer).
        #expect(seen().filter { $0 == "11" }.count >= 3, "11 was in flight at each kill: \(seen()) \(f.status())\n\(logs.suffix(20000))")
        #expect(seen().filter { $0 == "12" }.count == 1, "12 ran once, though read again twice: \(seen())")
        #expect(letters() == 1, "\(f.command(["dlq", "list", "--config", f.config]).output)")
    }

    /// Logs each call's rows to SEEN as one JSON line; while the file SLOW exists, a call whose
    /// first row has `slow_key` set to `slow_value` stays in flight until pgreflex is gone.
    static let recorder = #"""
        import json, os, sys, time
        message = json.load(sys.stdin)
        rows = [e["after"] for e in message.get("events", [message])]
        with open(os.environ["SEEN"], "a") as seen:
            seen.write(json.dumps(rows) + "\n")
        time.sleep(float(os.environ.get("DELAY", "0")))
        if os.path.exists(os.environ["SLOW"]) and rows[0].get(os.environ["SLOW_KEY"]) == int(os.environ["SLOW_VALUE"]):
            parent = os.getppid()
            for _ in range(6000):
                if os.getppid() != parent:
                    sys.exit(1)
                time.sleep(0.05)
        print(json.dumps({"summary": "ok"}))
        """#

    func calls(_ f: RouteFixture, _ file: String = "seen.jsonl") -> [[[String: Any]]] {
        ((try? String(contentsOfFile: f.dir + "/" + file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [[String: Any]]
        }
    }

    /// Starts `run`, waits until `ready` holds (or 30 s), then a moment, and kills it with SIGKILL.
    func runAndKill(_ f: RouteFixture, after moment: Duration, until ready: () -> Bool) async throws {
        let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config, "--log-level", "warning"], standardError: f.dir + "/killed.log")
        for _ in 0..<300 where !ready() { try await Task.sleep(for: .milliseconds(100)) }
        try await Task.sleep(for: moment)
        kill(pid, SIGKILL)
        _ = PostgresCluster.wait(pid)
    }

    func agentConfig(_ f: RouteFixture, slowKey: String, slowValue: Int) throws -> String {
        try Self.recorder.write(toFile: f.dir + "/recorder.py", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: f.dir + "/slow", contents: nil)
        return """
            agents:
              rec: { exec: { command: [python3, ./recorder.py], env: { SEEN: \(f.dir)/seen.jsonl, SLOW: \(f.dir)/slow, SLOW_KEY: \(slowKey), SLOW_VALUE: "\(slowValue)" }, timeout: 5m } }

            """
    }

    @Test func aWindowCountsEachEventOnceAcrossAKillNine() async throws {
        let f = try RouteFixture("winonce", tables: "CREATE TABLE orders (id int PRIMARY KEY, customer_id int);")
        defer { f.remove() }
        try f.configure(try agentConfig(f, slowKey: "customer_id", slowValue: 1) + """
            routes:
              r: { tables: [\(f.name).orders], agent: rec, concurrency: 4, retries: { timeout: 5m },
                   window: { count: 3, period: 10m, key: "string(after.customer_id)" }, start: earliest }
            """)
        // Customer 1's three orders fire (its call is in flight at the kill); customer 2's two wait.
        for (id, customer) in [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)] { try f.sql("INSERT INTO orders VALUES (\(id), \(customer));") }
        try await runAndKill(f, after: .milliseconds(1500)) { !calls(f).isEmpty }
        try FileManager.default.removeItem(atPath: f.dir + "/slow")
        let final = try await f.runToEndWithoutBlocking()
        #expect(final.status == 0, "\(final.output)")
        let fired = calls(f).map { $0.compactMap { $0["id"] as? Int } }
        #expect(!fired.isEmpty && fired.allSatisfy { $0 == [1, 2, 3] }, "only customer 1's window fires, once per run: \(fired)")
        #expect(f.status()["r"]?["in_windows"] == "2", "customer 2's two orders wait in their window: \(f.status())")
    }

    @Test func aDebouncedKeysLastCallIsItsNewestEventAcrossAKillNine() async throws {
        let f = try RouteFixture("debonce", tables: "CREATE TABLE items (id int PRIMARY KEY, qty int);")
        defer { f.remove() }
        try f.configure(try agentConfig(f, slowKey: "id", slowValue: 99) + """
            routes:
              r: { tables: [\(f.name).items], agent: rec, concurrency: 4, retries: { timeout: 5m },
                   debounce: { period: 1s, key: "string(after.id)" }, start: earliest }
            """)
        // Item 99's call holds the cursor back; item 1 is inserted with 10 and at once updated to 20.
        try f.sql("INSERT INTO items VALUES (99, 0);")
        try f.sql("INSERT INTO items VALUES (1, 10);")
        try f.sql("UPDATE items SET qty = 20 WHERE id = 1;")
        try await runAndKill(f, after: .milliseconds(500)) { calls(f).contains { $0.first?["id"] as? Int == 1 } }
        try FileManager.default.removeItem(atPath: f.dir + "/slow")
        let final = try await f.runToEndWithoutBlocking()
        #expect(final.status == 0, "\(final.output)")
        let item1 = calls(f).compactMap { $0.first }.filter { $0["id"] as? Int == 1 }.compactMap { $0["qty"] as? Int }
        #expect(item1 == [20], "the superseded 10 is never called, before or after the restart: \(item1)")
    }

    /// The seeds' composite trigger and debounce under 15 random kill -9s while changes stream:
    /// the same window fires and the same final debounced state as a run without restarts
    /// (a call in flight at a kill may repeat, whole, with the same events).
    @Test func windowsAndDebouncesUnderFifteenRandomKillNines() async throws {
        let f = try RouteFixture("restartprop", tables: """
            CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int);
            CREATE TABLE items (id int PRIMARY KEY, qty int);
            INSERT INTO items SELECT g, 0 FROM generate_series(1, 4) g;
            """)
        defer { f.remove() }
        try Self.recorder.write(toFile: f.dir + "/recorder.py", atomically: true, encoding: .utf8)
        let env = "SLOW: \(f.dir)/none, SLOW_KEY: id, SLOW_VALUE: \"0\", DELAY: \"0.05\""
        try f.configure("""
            agents:
              breach: { exec: { command: [python3, ./recorder.py], env: { SEEN: \(f.dir)/windows.jsonl, \(env) } } }
              stock: { exec: { command: [python3, ./recorder.py], env: { SEEN: \(f.dir)/debounces.jsonl, \(env) } } }
            routes:
              w: { tables: [\(f.name).orders], ops: [c], if: "after.total > 500", agent: breach, concurrency: 4, start: earliest,
                   window: { count: 3, period: 10m, key: "string(after.customer_id)" } }
              d: { tables: [\(f.name).items], ops: [u], agent: stock, concurrency: 4, start: earliest,
                   debounce: { period: 300ms, key: "string(after.id)" } }
            """)
        // 120 orders for 5 customers (every other one big) and 120 stock moves over 4 items,
        // in 60 transactions while pgreflex is killed 15 times.
        let workload = PostgresCluster.spawn(["psql", f.cluster.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", """
            DO $$ BEGIN FOR i IN 0..59 LOOP
              INSERT INTO \(f.name).orders VALUES (i * 2 + 1, (i * 7) % 5 + 1, 900), (i * 2 + 2, (i * 3) % 5 + 1, 100);
              UPDATE \(f.name).items SET qty = qty + 1 WHERE id = i % 4 + 1;
              UPDATE \(f.name).items SET qty = qty + 1 WHERE id = (i + 1) % 4 + 1;
              COMMIT;
              PERFORM pg_sleep(0.05);
            END LOOP; END $$;
            """])
        // PGREFLEX_RESTART_SEED replays another schedule of kills.
        var random = SplitMix64(seed: ProcessInfo.processInfo.environment["PGREFLEX_RESTART_SEED"].flatMap(UInt64.init) ?? 20261206)
        for _ in 0..<15 {
            let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config, "--log-level", "warning"], standardError: f.dir + "/killed.log")
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...700, using: &random)))
            kill(pid, SIGKILL)
            _ = PostgresCluster.wait(pid)
        }
        #expect(PostgresCluster.wait(workload) == 0)
        let final = try await f.runToEndWithoutBlocking()
        #expect(final.status == 0, "\(final.output.suffix(2000))")

        // Windows: each customer's big orders, in commit order, in threes.
        let rows = try f.cluster.psql("SELECT customer_id, id FROM \(f.name).orders WHERE total > 500 ORDER BY id")
            .split(separator: "\n").map { $0.split(separator: "|").compactMap { Int($0) } }
        var expected: [Int: [[Int]]] = [:]
        var open: [Int: [Int]] = [:]
        for row in rows where row.count == 2 {
            open[row[0], default: []].append(row[1])
            if open[row[0]]!.count == 3 { expected[row[0], default: []].append(open.removeValue(forKey: row[0])!) }
        }
        var fired: [Int: [[Int]]] = [:]
        for call in calls(f, "windows.jsonl") {
            guard let customer = call.first?["customer_id"] as? Int else { continue }
            let ids = call.compactMap { $0["id"] as? Int }
            // A call in flight at a kill repeats whole: count each window once.
            if fired[customer]?.last != ids { fired[customer, default: []].append(ids) }
        }
        #expect(fired.mapValues { Set($0.map { $0.map(String.init).joined(separator: ",") }) }
                == expected.mapValues { Set($0.map { $0.map(String.init).joined(separator: ",") }) },
                "window fires \(fired) against \(expected)")
        #expect(fired.values.allSatisfy { windows in windows.allSatisfy { Set($0).count == $0.count } }, "no window holds an order twice")

        // Debounces: each item's calls never go back to an older quantity, and its last call is its final state.
        let finalQty = Dictionary(uniqueKeysWithValues: try f.cluster.psql("SELECT id, qty FROM \(f.name).items ORDER BY id")
            .split(separator: "\n").map { $0.split(separator: "|").compactMap { Int($0) } }.filter { $0.count == 2 }.map { ($0[0], $0[1]) })
        var perItem: [Int: [Int]] = [:]
        for call in calls(f, "debounces.jsonl") {
            guard let row = call.first, let id = row["id"] as? Int, let qty = row["qty"] as? Int else { continue }
            perItem[id, default: []].append(qty)
        }
        for (id, qty) in finalQty {
            let seen = perItem[id] ?? []
            #expect(seen.last == qty, "item \(id): last call \(seen.last.map(String.init) ?? "none"), final \(qty): \(seen)")
            #expect(zip(seen, seen.dropFirst()).allSatisfy { $0 <= $1 }, "item \(id) went back to an older state: \(seen)")
        }
    }
}
