import Foundation
import GRDB
@testable import PGReflexState
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One test's corner of the suite's cluster: a schema of its own, a slot and a publication on
/// it, and a directory holding the configuration, the journal, the state store and the agents'
/// files. Runs the `pgreflex` executable.
struct RouteFixture {
    let cluster: PostgresCluster
    let name: String
    let dir: String
    let exe: String

    init(_ name: String, tables: String) throws {
        cluster = try PostgresCluster.required()
        self.name = name
        dir = NSTemporaryDirectory() + "pgreflex-route-\(name)-\(UUID().uuidString)"
        exe = try pgreflexExecutable()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try cluster.psql("CREATE SCHEMA \(name); SET search_path = \(name);\n\(tables)\nCREATE PUBLICATION \(name)_pub FOR TABLES IN SCHEMA \(name);")
        try cluster.createSlot("\(name)_slot")
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func sql(_ text: String) throws {
        _ = try cluster.psql("SET search_path = \(name);\n" + text)
    }

    /// Writes run.yaml: the source and journal, then `rest` (agents, routes).
    func configure(_ rest: String) throws {
        try """
            source: { dsn: "\(cluster.conninfo)", slot: \(name)_slot, publication: \(name)_pub }
            journal: { directory: ./journal }
            \(rest)
            """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
    }

    var config: String { dir + "/run.yaml" }

    /// `pgreflex run` until everything committed so far is handled.
    /// `environment` adds to this process's, for the child only: `setenv` would race with other
    /// threads spawning.
    func runToEnd(_ flags: [String] = [], environment: [String: String] = [:]) throws -> PostgresCluster.RunResult {
        let end = try cluster.currentInsertLSN()
        return PostgresCluster.run([exe, "run", "--config", config, "--end-lsn", end.description] + flags,
                                   environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    /// `runToEnd` for async tests: the wait does not hold a thread of the cooperative pool
    /// (a model's answer can take seconds, and other suites' servers need those threads).
    func runToEndWithoutBlocking(_ flags: [String] = []) async throws -> PostgresCluster.RunResult {
        let end = try cluster.currentInsertLSN()
        let log = dir + "/run-\(UUID().uuidString).log"
        let status = try await runWithoutBlocking([exe, "run", "--config", config, "--end-lsn", end.description] + flags, log: log)
        return PostgresCluster.RunResult(status: status, output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    func command(_ arguments: [String], environment: [String: String] = [:]) -> PostgresCluster.RunResult {
        PostgresCluster.run([exe] + arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    func lines(_ file: String) throws -> [TailLine] {
        guard let data = FileManager.default.contents(atPath: dir + "/" + file) else { return [] }
        return try parseLines(data)
    }

    /// The `route stopped` line's fields for a route (the last one in `log`).
    static func stopped(_ route: String, in log: String) -> [String: String] {
        LogLines.last(in: log, message: "route stopped", matching: ["route": route]) ?? [:]
    }

    /// `route status` as route → column → value.
    /// Polls the run's status file (`state/status.json`, rewritten each second) until
    /// `condition` holds on it, for at most `seconds`.
    func waitForStatusFile(_ seconds: Double, _ condition: ([String: Any]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: dir + "/state/status.json"),
               let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any], condition(report) { return true }
            usleep(100_000)
        }
        return false
    }

    /// Returns once the server's clock has passed what it reads now plus `seconds`: for tests
    /// whose events must be that much older by commit time.
    func waitForServerClock(pastSecondsFromNow seconds: Double) {
        let target = (try? cluster.psql("SELECT extract(epoch FROM clock_timestamp()) + \(seconds)")).flatMap { Double($0) } ?? 0
        let deadline = Date().addingTimeInterval(seconds + 30)
        while Date() < deadline, ((try? cluster.psql("SELECT extract(epoch FROM clock_timestamp())")).flatMap { Double($0) } ?? .infinity) < target {
            usleep(50_000)
        }
    }

    func status() -> [String: [String: String]] {
        let result = command(["route", "status", "--config", config])
        let rows = result.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        guard let header = rows.first, header.first == "route" else { return [:] }
        var table: [String: [String: String]] = [:]
        for row in rows.dropFirst() where row.count == header.count {
            table[row[0]] = Dictionary(uniqueKeysWithValues: zip(header, row))
        }
        return table
    }
}

/// Routes and the dispatcher end to end: real changes from PostgreSQL, through the journal, to
/// agents, by the `pgreflex` executable.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct RouteDispatchTests {
    @Test func theSeedsWorkflowsFilterAndFanOut() throws {
        let f = try RouteFixture("wf", tables: """
            CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total_amount numeric(12,2), is_first_order boolean);
            CREATE TABLE support_tickets (id int PRIMARY KEY, priority text, body text);
            CREATE TABLE inventory (sku text PRIMARY KEY, quantity_on_hand int, reorder_point int, last_audited_at timestamptz);
            ALTER TABLE inventory REPLICA IDENTITY FULL;
            """)
        defer { f.remove() }
        try f.configure("""
            agents:
              fraud: { file: { path: ./fraud.jsonl } }
              tickets: { file: { path: ./tickets.jsonl } }
              reorder: { file: { path: ./reorder.jsonl } }
              audit: { noop: {} }
            routes:
              fraud_check: { tables: [wf.orders], ops: [c], if: "after.total_amount > 500 || after.is_first_order", agent: fraud, start: earliest }
              classify_ticket: { tables: [wf.support_tickets], ops: [c], agent: tickets, start: earliest }
              reorder:
                tables: [wf.inventory]
                ops: [u]
                columns_changed: [quantity_on_hand]
                if: after.quantity_on_hand < after.reorder_point
                agent: reorder
                start: earliest
              everything: { tables: ["wf.*"], agent: audit, start: earliest }
            """)
        try f.sql("""
            INSERT INTO orders VALUES (1, 7, 612.50, false), (2, 7, 40.00, false), (3, 8, 40.00, true);
            UPDATE orders SET total_amount = 900 WHERE id = 2;
            INSERT INTO support_tickets VALUES (1, 'high', 'it broke'), (2, 'low', 'hello');
            INSERT INTO inventory VALUES ('a', 10, 5, now());
            UPDATE inventory SET last_audited_at = now() + interval '1 day' WHERE sku = 'a';
            UPDATE inventory SET quantity_on_hand = 3 WHERE sku = 'a';
            UPDATE inventory SET quantity_on_hand = 2 WHERE sku = 'a';
            UPDATE inventory SET quantity_on_hand = 20 WHERE sku = 'a';
            """)
        let run = try f.runToEnd()
        #expect(run.status == 0, "\(run.output)")
        // A big order and a first order wake the fraud check; a small repeat order and an update do not.
        #expect(try f.lines("fraud.jsonl").map { $0.after?["id"] as? Int } == [1, 3])
        #expect(try f.lines("tickets.jsonl").count == 2)
        // An audit-only update does not wake the reorder agent; neither does a restock above the point.
        #expect(try f.lines("reorder.jsonl").map { $0.after?["quantity_on_hand"] as? Int } == [3, 2])
        // One event fans out to every route that matches it.
        let everything = RouteFixture.stopped("everything", in: run.output)
        #expect(everything["route.succeeded"] == "11" && everything["route.filtered"] == "0", "\(everything)")
        let fraud = RouteFixture.stopped("fraud_check", in: run.output)
        #expect(fraud["route.read"] == "11" && fraud["route.filtered"] == "9", "\(fraud)")
        // The route's cursor moved (nil, no status at all, must not pass: issue 34).
        let position = f.status()["reorder"]?["position"]
        #expect(position != nil && position != "start", "\(f.status())")
    }

    @Test func orderHoldsPerKeyAndKeysRunInParallel() throws {
        let f = try RouteFixture("ord", tables: "CREATE TABLE accounts (id int PRIMARY KEY, balance int);")
        defer { f.remove() }
        try f.configure("""
            agents:
              ledger: { file: { path: ./ledger.jsonl } }
              slow: { noop: { delay: 10ms } }
            routes:
              ordered: { tables: [ord.accounts], agent: ledger, concurrency: 16, start: earliest }
              parallel: { tables: [ord.accounts], agent: slow, concurrency: 16, start: earliest }
            """)
        try f.sql("""
            INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 1000) g;
            UPDATE accounts SET balance = balance + 1;
            UPDATE accounts SET balance = balance + 1;
            """)
        let run = try f.runToEnd()
        #expect(run.status == 0, "\(run.output)")
        let lines = try f.lines("ledger.jsonl")
        #expect(lines.count == 3000)
        var seen: [Int: [Int]] = [:]
        for line in lines { seen[line.after?["id"] as? Int ?? -1, default: []].append(line.after?["balance"] as? Int ?? -1) }
        #expect(seen.count == 1000 && seen.values.allSatisfy { $0 == [0, 1, 2] }, "each key's events arrive in commit order")
        let parallel = RouteFixture.stopped("parallel", in: run.output)
        #expect(parallel["route.succeeded"] == "3000")
        #expect(Int(parallel["route.peak_running"] ?? "0") == 16, "16 calls in flight at the peak: \(parallel)")
    }

    @Test func debounceRunsOnceWithTheFinalState() throws {
        let f = try RouteFixture("deb", tables: "CREATE TABLE orders (id int PRIMARY KEY, status text, revision int);")
        defer { f.remove() }
        try f.configure("""
            agents: { final: { file: { path: ./final.jsonl } } }
            routes:
              settle: { tables: [deb.orders], ops: [u], agent: final, debounce: { period: 2s, timeout: 30s }, start: earliest }
            """)
        try f.sql("INSERT INTO orders VALUES (1, 'new', 0);")
        for revision in 1...10 { try f.sql("UPDATE orders SET revision = \(revision), status = 'edit \(revision)' WHERE id = 1;") }
        let run = try f.runToEnd()
        #expect(run.status == 0, "\(run.output)")
        let lines = try f.lines("final.jsonl")
        #expect(lines.count == 1 && lines.first?.after?["revision"] as? Int == 10, "one call, with the final state")
        let stopped = RouteFixture.stopped("settle", in: run.output)
        #expect(stopped["route.superseded"] == "9" && stopped["route.calls"] == "1", "\(stopped)")
    }

    @Test func batchesFlushWhenFullAndWhenTheirTimeoutPasses() throws {
        let f = try RouteFixture("bat", tables: "CREATE TABLE clicks (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.configure("""
            agents: { bulk: { file: { path: ./bulk.jsonl } } }
            routes:
              bulk: { tables: [bat.clicks], agent: bulk, batch: { max_size: 50, timeout: 500ms }, start: earliest }
            """)
        try f.sql("INSERT INTO clicks SELECT generate_series(1, 120);")
        // No end LSN and no idle exit: capture streams until SIGTERM, so nothing but the batch's
        // timeout can send the last 20 before the test stops the run.
        let log = f.dir + "/run.log"
        let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config], standardError: log)
        defer {
            kill(pid, SIGKILL)
            PostgresCluster.wait(pid)
        }
        let deadline = Date().addingTimeInterval(60)
        while try f.lines("bulk.jsonl").count < 120 && Date() < deadline && kill(pid, 0) == 0 { usleep(50_000) }
        let flushed = try f.lines("bulk.jsonl").count
        kill(pid, SIGTERM)
        #expect(PostgresCluster.wait(pid) == 0)
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(flushed == 120, "the partial batch of 20 was flushed by its timeout while capture still streamed: \(output)")
        #expect(RouteFixture.stopped("bulk", in: output)["route.calls"] == "3", "50, 50, then 20")
    }

    @Test func aWindowFiresOnceAndSurvivesKillNine() throws {
        let f = try RouteFixture("win", tables: "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric);")
        defer { f.remove() }
        try f.configure("""
            agents: { breach: { file: { path: ./breach.jsonl } } }
            routes:
              breach:
                tables: [win.orders]
                ops: [c]
                if: after.total > 500
                window: { count: 3, period: 10m, key: after.customer_id }
                agent: breach
                start: earliest
            """)
        // Customer 1: three big orders (a breach); customer 2: two (none); a small one does not count.
        try f.sql("""
            INSERT INTO orders VALUES (1, 1, 600);
            INSERT INTO orders VALUES (2, 2, 700);
            INSERT INTO orders VALUES (3, 1, 20);
            INSERT INTO orders VALUES (4, 1, 800);
            INSERT INTO orders VALUES (5, 2, 900);
            INSERT INTO orders VALUES (6, 1, 1000);
            """)
        let first = try f.runToEnd()
        #expect(first.status == 0, "\(first.output)")
        #expect(try f.lines("breach.jsonl").map { $0.after?["id"] as? Int } == [1, 4, 6])
        #expect(RouteFixture.stopped("breach", in: first.output)["route.calls"] == "1")

        // Customer 3's first two orders open a window; kill -9 once the route has them.
        try f.sql("INSERT INTO orders VALUES (7, 3, 600); INSERT INTO orders VALUES (8, 3, 700);")
        let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config])
        var open = "0"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            open = f.status()["breach"]?["in_windows"] ?? "0"
            if open == "4" { break }  // customer 2's two, and customer 3's
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        _ = PostgresCluster.wait(pid)
        #expect(open == "4")
        try f.sql("INSERT INTO orders VALUES (9, 3, 800);")
        let second = try f.runToEnd()
        #expect(second.status == 0, "\(second.output)")
        #expect(try f.lines("breach.jsonl").map { $0.after?["id"] as? Int } == [1, 4, 6, 7, 8, 9], "the open window outlived the kill")
        #expect(f.status()["breach"]?["in_windows"] == "2", "customer 2's window stays open")
    }

    @Test func eventsFallOutOfAWindowAfterItsPeriod() throws {
        let f = try RouteFixture("winp", tables: "CREATE TABLE logins (id int PRIMARY KEY, user_id int);")
        defer { f.remove() }
        try f.configure("""
            agents: { alarm: { file: { path: ./alarm.jsonl } } }
            routes:
              alarm: { tables: [winp.logins], ops: [c], agent: alarm, window: { count: 2, period: 1s, key: after.user_id }, start: earliest }
            """)
        try f.sql("INSERT INTO logins VALUES (1, 7);")
        // The first login's commit must be over a second older than the next: wait on the
        // server's clock, which stamps the commits, not on a guess.
        f.waitForServerClock(pastSecondsFromNow: 1.2)
        try f.sql("INSERT INTO logins VALUES (2, 7);")
        try f.sql("INSERT INTO logins VALUES (3, 7);")
        let run = try f.runToEnd()
        #expect(run.status == 0, "\(run.output)")
        // The first login is too old for the second's window; the second and third complete one.
        #expect(try f.lines("alarm.jsonl").map { $0.after?["id"] as? Int } == [2, 3])
        #expect(f.status()["alarm"]?["in_windows"] == "0")
    }

    @Test func throttleDelaysAndRateLimitSkipsAndCounts() throws {
        let f = try RouteFixture("thr", tables: "CREATE TABLE signups (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.configure("""
            agents:
              welcome: { file: { path: ./welcome.jsonl } }
              notify: { file: { path: ./notify.jsonl } }
            routes:
              welcome: { tables: [thr.signups], agent: welcome, throttle: { limit: 4, period: 1s }, start: earliest }
              notify: { tables: [thr.signups], agent: notify, rate_limit: { limit: 4, period: 1h }, start: earliest }
            """)
        try f.sql("INSERT INTO signups SELECT generate_series(1, 10);")
        let started = ContinuousClock.now
        let run = try f.runToEnd()
        let elapsed = started.duration(to: .now)
        #expect(run.status == 0, "\(run.output)")
        // Throttled: every event, spaced 250 ms apart (nine gaps).
        #expect(try f.lines("welcome.jsonl").count == 10)
        #expect(elapsed >= .seconds(2), "ten starts at four a second take over two seconds: \(elapsed)")
        // Rate limited: four run, six are skipped, each recorded.
        #expect(try f.lines("notify.jsonl").count == 4)
        #expect(f.status()["notify"]?["skipped"] == "rate_limit=6")
    }

    @Test func idempotencyRunsOneCallPerKeyValueAcrossRestarts() throws {
        let f = try RouteFixture("idem", tables: "CREATE TABLE payments (id int PRIMARY KEY, order_id int);")
        defer { f.remove() }
        try f.configure("""
            agents: { charge: { file: { path: ./charges.jsonl } } }
            routes:
              charge: { tables: [idem.payments], ops: [c], agent: charge, idempotency: { key: after.order_id, period: 1h }, start: earliest }
            """)
        try f.sql("INSERT INTO payments VALUES (1, 100), (2, 100), (3, 200);")
        let first = try f.runToEnd()
        #expect(first.status == 0, "\(first.output)")
        // A retried payment for the same order, after a restart: the key is in the state store.
        try f.sql("INSERT INTO payments VALUES (4, 200), (5, 300);")
        let second = try f.runToEnd()
        #expect(second.status == 0, "\(second.output)")
        #expect(try f.lines("charges.jsonl").map { $0.after?["id"] as? Int } == [1, 3, 5])
        #expect(f.status()["charge"]?["skipped"] == "idempotency=2")
    }

    @Test func pinsHoldOtherVersionsAndSheddingSkipsLateEvents() throws {
        let f = try RouteFixture("pin", tables: """
            CREATE TABLE orders (id int PRIMARY KEY, total int);
            CREATE TABLE page_views (id int PRIMARY KEY);
            """)
        defer { f.remove() }
        let routes = """
            agents:
              pinned: { file: { path: ./pinned.jsonl } }
              free: { file: { path: ./free.jsonl } }
              views: { file: { path: ./views.jsonl } }
            routes:
              pinned: { tables: [pin.orders], agent: pinned, schema_versions: { pin.orders: [VERSIONS] }, start: earliest }
              free: { tables: [pin.orders], agent: free, start: earliest }
              views: { tables: [pin.page_views], agent: views, shed: { lag_over: 1s, action: skip }, start: earliest }
            """
        try f.configure(routes.replacingOccurrences(of: "VERSIONS", with: "1"))
        try f.sql("""
            INSERT INTO page_views SELECT generate_series(1, 5);
            INSERT INTO orders VALUES (1, 10);
            ALTER TABLE orders ADD COLUMN note text;
            INSERT INTO orders VALUES (2, 20, 'v2');
            """)
        // The page views are two seconds old when the run starts: over the shedding route's lag.
        f.waitForServerClock(pastSecondsFromNow: 2)
        let first = try f.runToEnd()
        #expect(first.status == 0, "\(first.output)")
        #expect(try f.lines("pinned.jsonl").map { $0.after?["id"] as? Int } == [1], "version 2 is held for the pinned route")
        #expect(try f.lines("free.jsonl").map { $0.after?["id"] as? Int } == [1, 2], "and delivered to the other")
        #expect(first.output.contains("holding the route's events of a schema version it is not pinned to"))
        #expect(try f.lines("views.jsonl").isEmpty)
        #expect(f.status()["views"]?["skipped"] == "shed=5")
        // Pinned to both versions now: the held event goes out, and nothing twice.
        try f.configure(routes.replacingOccurrences(of: "VERSIONS", with: "1, 2"))
        let second = try f.runToEnd()
        #expect(second.status == 0, "\(second.output)")
        #expect(try f.lines("pinned.jsonl").map { $0.after?["id"] as? Int } == [1, 2])
        #expect(try f.lines("free.jsonl").count == 2)
    }

    @Test func deadLettersThenRetryAndReplayThroughOneRoute() throws {
        let f = try RouteFixture("dlq", tables: "CREATE TABLE payments (id int PRIMARY KEY, amount int);")
        defer { f.remove() }
        let routes = """
            agents: { payer: { file: { path: PATH }, circuit_breaker: { failures: 50 } } }
            routes:
              pay: { tables: [dlq.payments], agent: payer, retries: { attempts: 2, backoff: { initial: 50ms, max: 100ms } }, start: earliest }
            """
        // A full disk: every write fails (retryable), and after two attempts each event is
        // dead-lettered; a key's later change waits behind its earlier one's retries.
        try f.configure(routes.replacingOccurrences(of: "PATH", with: "/dev/full"))
        try f.sql("INSERT INTO payments VALUES (1, 10), (2, 20); UPDATE payments SET amount = amount + 1;")
        let run = try f.runToEnd()
        #expect(run.status == 0, "\(run.output)")
        #expect(f.status()["pay"]?["dead_letters"] == "4")
        // The last attempt before a dead letter is "failed", as docs/operations.md says; the one
        // before it, which is retried, "failed_retryable".
        let calls = LogLines.parse(run.output).filter { $0["msg"] == "agent call" }
        #expect(calls.filter { $0["outcome"] == "failed" }.map { $0["attempt"] } == ["2", "2", "2", "2"], "\(calls)")
        #expect(calls.filter { $0["outcome"] == "failed_retryable" }.map { $0["attempt"] } == ["1", "1", "1", "1"], "\(calls)")
        let list = f.command(["dlq", "list", "--config", f.config, "--format", "json"])
        let letters = list.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(letters.count == 4 && list.output.contains("\"error_class\":\"retryable_exhausted\""), "\(list.output)")
        // One transaction: the inserts are its events 0 and 1, the updates of the same rows 2 and 3.
        let order = letters.sorted { ($0["id"] as? Int ?? 0) < ($1["id"] as? Int ?? 0) }.map { ($0["event_id"] as? String ?? "").suffix(1) }
        #expect(order.firstIndex(of: "0")! < order.firstIndex(of: "2")! && order.firstIndex(of: "1")! < order.firstIndex(of: "3")!,
                "each row's insert is dead-lettered before its update: \(list.output)")
        // Fixed: dlq retry runs them through the same agent, and they leave the queue.
        try f.configure(routes.replacingOccurrences(of: "PATH", with: "./paid.jsonl"))
        let retry = f.command(["dlq", "retry", "--config", f.config])
        #expect(retry.status == 0, "\(retry.output)")
        #expect(try f.lines("paid.jsonl").compactMap { $0.after?["id"] as? Int }.sorted() == [1, 1, 2, 2], "\(retry.output)")
        #expect(f.status()["pay"]?["dead_letters"] == "0")
        // `pgreflex status` agrees with itself: the routes table and the line below it.
        let overview = f.command(["status", "--config", f.config]).output
        let row = overview.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("pay ") }.map(String.init) ?? ""
        let header = overview.split(separator: "\n").first { $0.contains("dead_letters") }.map(String.init) ?? ""
        let column = header.split(separator: " ", omittingEmptySubsequences: true).firstIndex(of: "dead_letters")
        #expect(column.map { row.split(separator: " ", omittingEmptySubsequences: true)[$0] } == "0", "\(overview)")
        #expect(overview.contains("dead letters: 0"), "\(overview)")
        // A replay through the route skips what is done, unless forced.
        let from = try #require(f.lines("paid.jsonl").compactMap(\.commitLSN).min())
        let replay = f.command(["replay", "--config", f.config, "--route", "pay", "--from-lsn", from.description])
        #expect(replay.status == 0 && replay.output.contains("4 already done"), "\(replay.output)")
        let forced = f.command(["replay", "--config", f.config, "--route", "pay", "--from-lsn", from.description, "--force"])
        #expect(forced.status == 0 && forced.output.contains("4 calls succeeded"), "\(forced.output)")
        #expect(try f.lines("paid.jsonl").count == 8)
    }

    /// Done records of events the journal's retention removed are forgotten, and the records
    /// of such skipped events fold into counts: the state store grows with the journal, not
    /// with the route's history, and `route status` counts every skip.
    @Test func doneRecordsGoWithTheJournalsRetention() async throws {
        let f = try RouteFixture("forget", tables: "CREATE TABLE docs (id int PRIMARY KEY, body text);")
        defer { f.remove() }
        try """
            source: { dsn: "\(f.cluster.conninfo)", slot: forget_slot, publication: forget_pub }
            journal: { directory: ./journal, segment_bytes: 65536, retention: { max_bytes: 262144 } }
            agents: { keep: { file: { path: ./docs.jsonl } }, few: { file: { path: ./few.jsonl } } }
            routes:
              keep: { tables: [forget.docs], agent: keep, start: earliest }
              few: { tables: [forget.docs], agent: few, rate_limit: { limit: 10, period: 1h }, start: earliest }
            """.write(toFile: f.config, atomically: true, encoding: .utf8)
        // Several megabytes of WAL in 30 transactions: done records in several buckets (commit
        // LSN megabytes), the older ones past retention.
        for i in 0..<30 {
            try f.sql("INSERT INTO docs SELECT g, md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text) FROM generate_series(\(i * 1000 + 1), \(i * 1000 + 1000)) g;")
        }
        #expect(try f.runToEnd().status == 0)
        let first = try f.lines("docs.jsonl").map(\.id)
        #expect(first.count == 30000)
        try f.sql("INSERT INTO docs VALUES (30001, 'last');")
        let second = try await f.runToEndWithoutBlocking()
        #expect(second.status == 0, "\(second.output)")
        let ids = try f.lines("docs.jsonl").map(\.id)
        let store = try SQLiteStateStore(directory: f.dir + "/state")
        let done = try await store.done(among: ids.map { DoneKey(eventID: $0, route: "keep", agent: "keep") }, since: nil)
        let newestKnown = done.contains(DoneKey(eventID: ids.last!, route: "keep", agent: "keep"))
        let oldestKnown = done.contains(DoneKey(eventID: first[0], route: "keep", agent: "keep"))
        #expect(newestKnown, "the newest is still known")
        #expect(!oldestKnown, "the oldest, past retention, is forgotten")
        #expect(done.count < 20000, "\(done.count) of 30001 kept")
        // The rate limit's state is the process's: the second run calls its one event.
        let called = try f.lines("few.jsonl").count
        #expect(called == 11)
        #expect(try await store.skipCounts(route: "few").map(\.count) == [30001 - called], "every skip counted")
        let skipRows = try await store.database.read { db in
            try (Int.fetchOne(db, sql: "SELECT count(*) FROM skips WHERE route = 'few'") ?? 0,
                 Bool.fetchOne(db, sql: "SELECT count(*) > 0 FROM skips WHERE event_id = ?", arguments: [first[10]]) ?? false,  // the first run called the first ten
                 Bool.fetchOne(db, sql: "SELECT count(*) > 0 FROM skips WHERE event_id = ?", arguments: [first.last!]) ?? false)
        }
        #expect(skipRows.0 < 20000, "\(skipRows.0) skip records kept")
        #expect(!skipRows.1, "the oldest skip's record, past retention, is folded into the counts")
        #expect(skipRows.2, "the newest skip's record, still in the journal, is kept")
    }

    @Test func killNineTenTimesDuringDispatchNeverCompletesTwice() throws {
        let f = try RouteFixture("kill", tables: "CREATE TABLE items (id int PRIMARY KEY, n int);")
        defer { f.remove() }
        try f.configure("""
            agents: { store: { file: { path: ./items.jsonl } } }
            routes:
              store: { tables: [kill.items], agent: store, concurrency: 8, start: earliest }
            """)
        let workload = PostgresCluster.spawn(["psql", f.cluster.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", """
            DO $$ BEGIN FOR i IN 0..99 LOOP
              INSERT INTO kill.items SELECT g, g FROM generate_series(i * 200 + 1, i * 200 + 200) g; COMMIT;
              PERFORM pg_sleep(0.02);
            END LOOP; END $$;
            """])
        var random = SplitMix64(seed: 20261130)
        let log = f.dir + "/run.log"
        for _ in 0..<10 {
            let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config, "--log-level", "warning"], standardError: log)
            usleep(UInt32.random(in: 200_000...900_000, using: &random))
            kill(pid, SIGKILL)
            #expect(PostgresCluster.wait(pid) == 128 + SIGKILL, "\(String(describing: try? String(contentsOfFile: log, encoding: .utf8)))")
        }
        #expect(PostgresCluster.wait(workload) == 0)
        let final = try f.runToEnd(["--log-level", "warning"])
        #expect(final.status == 0, "\(final.output)")
        let ids = try f.lines("items.jsonl").map(\.id)
        #expect(Set(ids).count == 20_000, "no event lost")
        #expect(ids.count == 20_000, "no event written twice: \(ids.count - Set(ids).count) duplicates")
    }

    @Test func sigtermDrainsCallsInFlightUpToTheDeadline() throws {
        let f = try RouteFixture("term", tables: "CREATE TABLE jobs (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.configure("""
            agents:
              steady: { noop: { delay: 2s } }
              stuck: { noop: { delay: 60s } }
            routes:
              steady: { tables: [term.jobs], agent: steady, concurrency: 4, start: earliest }
              stuck: { tables: [term.jobs], agent: stuck, concurrency: 4, start: earliest }
            """)
        try f.sql("INSERT INTO jobs SELECT generate_series(1, 4);")
        let log = f.dir + "/run.log"
        let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config, "--drain-timeout", "4"], standardError: log)
        // Wait until both routes have their four calls in flight (the run's status file says
        // so), then stop.
        let inFlight = f.waitForStatusFile(60) { report in
            let routes = report["routes"] as? [String: [String: Any]]
            return (routes?["steady"]?["inFlight"] as? Int) == 4 && (routes?["stuck"]?["inFlight"] as? Int) == 4
        }
        #expect(inFlight, "both routes' calls in flight: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        kill(pid, SIGTERM)
        let status = PostgresCluster.wait(pid)
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        // The steady agent's calls finished during the drain and were recorded; the stuck ones
        // were abandoned and stay after the cursor, to run at the next start.
        #expect(RouteFixture.stopped("steady", in: output)["route.succeeded"] == "4", "\(output)")
        #expect(output.contains("calls still running at the stop's deadline were abandoned"))
        let status2 = f.status()
        #expect(status2["steady"]?["position"] != "start" && status2["stuck"]?["position"] == "start", "\(status2)")
    }

    @Test func aSlowAgentBoundsMemoryAndLosesNothing() throws {
        let f = try RouteFixture("bp", tables: "CREATE TABLE events (id int PRIMARY KEY, payload text);")
        defer { f.remove() }
        try f.configure("""
            agents: { slow: { noop: { delay: 5ms } } }
            routes:
              slow: { tables: [bp.events], agent: slow, concurrency: 4, batch: { max_size: 100, timeout: 50ms }, max_buffered_events: 5000, start: earliest }
            """)
        // Transactions of 5,000 (ten; a hundred under PGREFLEX_STRESS=full): the route's memory is
        // measured, not one huge transaction's.
        let transactions = Stress.size(small: 10, full: 100)
        let load = PostgresCluster.run(["psql", f.cluster.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", """
            DO $$ BEGIN FOR i IN 0..\(transactions - 1) LOOP
              INSERT INTO bp.events SELECT g, repeat('x', 100) FROM generate_series(i * 5000 + 1, i * 5000 + 5000) g; COMMIT;
            END LOOP; END $$;
            """])
        #expect(load.status == 0, "\(load.output)")
        let end = try f.cluster.currentInsertLSN()
        let log = f.dir + "/run.log"
        let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config, "--end-lsn", end.description], standardError: log)
        var peakKiB = 0
        while waitpid(pid, nil, WNOHANG) == 0 {
            if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) {
                peakKiB = max(peakKiB, kib)
            }
            usleep(100_000)
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let stopped = RouteFixture.stopped("slow", in: output)
        // Batches of at most 100: one call per 100 changes when every batch fills, more when the
        // 50 ms batch timeout closes one early on a loaded machine. Nothing lost either way.
        let calls = Int(stopped["route.succeeded"] ?? "") ?? 0
        #expect(stopped["route.read"] == "\(transactions * 5000)" && calls >= transactions * 50 && stopped["route.calls"] == stopped["route.succeeded"]
                    && stopped["route.dead_lettered"] == "0" && stopped["route.skipped"] == "0", "\(stopped)")
        #expect(peakKiB > 0 && peakKiB < 150 * 1024, "peak RSS \(peakKiB / 1024) MiB")
        Issue.record(Comment(rawValue: "backpressure: \(transactions * 5)k changes behind a slow agent, peak RSS \(peakKiB / 1024) MiB"), severity: .warning)
    }
}
