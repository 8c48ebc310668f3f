import Foundation
import GRDB
@testable import PGReflexState
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

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
}
