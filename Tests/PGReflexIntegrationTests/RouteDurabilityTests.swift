import Foundation
import GRDB
@testable import PGReflexState
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Routes across failures, end to end: dead letters and their retry, done records and the
/// journal's retention, kill -9 and SIGTERM during dispatch, a slow agent's memory.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct RouteDurabilityTests {
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
