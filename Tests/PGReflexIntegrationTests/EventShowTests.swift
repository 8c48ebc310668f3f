import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `pgreflex event show`: one change's story, from its commit to its receipts, on a real
/// PostgreSQL, through a debounce, a window, a retry after a 500, a dead letter and a filter.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct EventShowTests {
    static let secret = "secret-note-4411"

    /// Runs the routes over one row's insert and update; `body` gets the fixture afterwards.
    func withStory(_ name: String, _ body: (RouteFixture) async throws -> Void) async throws {
        let f = try RouteFixture(name, tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric, note text);")
        defer { f.remove() }
        try f.sql("INSERT INTO orders VALUES (1, 10, '\(Self.secret)');")
        try f.sql("UPDATE orders SET total = 20 WHERE id = 1;")
        let flaky = WebhookReceiver { _, before in before.isEmpty ? (500, nil) : (200, nil) }
        let doomed = WebhookReceiver { _, _ in (500, nil) }
        let result = try await flaky.serving { flakyPort in
            try await doomed.serving { doomedPort in
                try f.configure("""
                    privacy: { columns: [{ match: \(name).orders.note, policy: redact }] }
                    agents:
                      nothing: { noop: {} }
                      flaky: { webhook: { url: "http://127.0.0.1:\(flakyPort)/hook", secret_env: TEST_WEBHOOK_SECRET } }
                      doomed: { webhook: { url: "http://127.0.0.1:\(doomedPort)/hook", secret_env: TEST_WEBHOOK_SECRET }, circuit_breaker: { failures: 100 } }
                    routes:
                      settle: { tables: [\(name).orders], agent: nothing, debounce: { period: 200ms }, start: earliest }
                      pair: { tables: [\(name).orders], agent: nothing, window: { count: 2, period: 1m }, start: earliest }
                      flaky: { tables: [\(name).orders], ops: [c], agent: flaky, retries: { attempts: 3, backoff: { initial: 10ms, max: 50ms } }, start: earliest }
                      doomed: { tables: [\(name).orders], ops: [c], agent: doomed, retries: { attempts: 2, backoff: { initial: 10ms, max: 50ms } }, start: earliest }
                      big: { tables: [\(name).orders], if: "double(event.after.total) > 1000.0", agent: nothing, start: earliest }
                    """)
                let end = try f.cluster.currentInsertLSN()
                let log = f.dir + "/run.log"
                let status = try await runWithoutBlocking([f.exe, "run", "--config", f.config, "--end-lsn", end.description], log: log,
                                                          environment: ["TEST_WEBHOOK_SECRET": WebhookRetryTests.secret])
                return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
            }
        }
        #expect(result.0 == 0, "\(result.1.suffix(3000))")
        try await body(f)
    }

    static func objects(_ output: String) -> [[String: Any]] {
        output.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    static func route(_ change: [String: Any], _ name: String) -> [String: Any] {
        (change["routes"] as? [[String: Any]])?.first { $0["route"] as? String == name } ?? [:]
    }

    static func time(_ value: Any?) -> Date? {
        (value as? String).flatMap { text in
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter.date(from: text)
        }
    }

    @Test func aChangeShowsEveryStageInOrderWithItsIds() async throws {
        try await withStory("evshow") { f in
            // By key: both changes of the row, newest first.
            let byKey = f.command(["event", "show", "--config", f.config, "--key", "evshow.orders:1", "--format", "json"])
            #expect(byKey.status == 0, "\(byKey.output)")
            let changes = Self.objects(byKey.output)
            #expect(changes.map { $0["op"] as? String } == ["u", "c"], "\(byKey.output)")
            guard changes.count == 2, let update = changes[0]["id"] as? String, let insert = changes[1]["id"] as? String else { return }
            #expect(update > insert)
            // By id: the insert, field by field.
            let shown = f.command(["event", "show", "--config", f.config, "--id", insert, "--format", "json"])
            let change = try #require(Self.objects(shown.output).first, "\(shown.output)")
            #expect(change["id"] as? String == insert && change["table"] as? String == "evshow.orders" && change["op"] as? String == "c")
            #expect((change["key"] as? [String: Any])?["id"] as? Int == 1)
            let journal = change["journal"] as? [String: Any] ?? [:]
            #expect((journal["segment"] as? String)?.hasSuffix(".seg") == true && (journal["offset"] as? Int ?? 0) >= 8, "\(journal)")
            #expect((journal["xid"] as? Int ?? 0) > 0 && journal["schema_version"] as? Int == 1 && (journal["lsn"] as? String)?.contains("/") == true)
            let committed = Self.time(journal["commit_time"]), journaled = Self.time(journal["journaled_at"])
            #expect(committed != nil && journaled != nil && committed! <= journaled!, "\(journal)")
            #expect(((change["envelope"] as? [String: Any])?["after"] as? [String: Any])?["note"] as? String == "[redacted]")
            // settle: superseded by the update in its debounce.
            let settle = Self.route(change, "settle")
            #expect(settle["matches"] as? Bool == true && settle["state"] as? String == "done", "\(settle)")
            let settleSteps = settle["steps"] as? [[String: Any]] ?? []
            #expect(settleSteps.map { $0["kind"] as? String } == ["debounced"] && settleSteps.first?["detail"] as? String == update, "\(settle)")
            #expect((settle["calls"] as? [Any])?.isEmpty == true)
            // pair: kept in the window, then one call with both events.
            let pair = Self.route(change, "pair")
            #expect((pair["steps"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["window"], "\(pair)")
            let pairCalls = pair["calls"] as? [[String: Any]] ?? []
            #expect(pairCalls.count == 1 && pairCalls.first?["events"] as? [String] == [insert, update], "\(pair)")
            #expect((pairCalls.first?["attempts"] as? [[String: Any]])?.map { $0["outcome"] as? String } == ["succeeded"])
            #expect(pair["state"] as? String == "done")
            // flaky: a 500, then a retry that succeeded, under one idempotency key.
            let flaky = Self.route(change, "flaky")
            let flakyCall = (flaky["calls"] as? [[String: Any]])?.first ?? [:]
            let attempts = flakyCall["attempts"] as? [[String: Any]] ?? []
            #expect(flakyCall["idempotency_key"] as? String == "flaky:flaky:\(insert)", "\(flaky)")
            #expect(attempts.map { $0["attempt"] as? Int } == [1, 2] && attempts.map { $0["outcome"] as? String } == ["retrying", "succeeded"], "\(flaky)")
            #expect((attempts.first?["error"] as? String)?.contains("500") == true, "\(attempts)")
            #expect(flaky["state"] as? String == "done" && flaky["dead_letter"] is NSNull)
            // Each stage after the one before: commit → journaled → read → call start → outcome.
            let stages = flaky["stages"] as? [String: Any] ?? [:]
            let read = Self.time(stages["read_at"]), started = Self.time(stages["call_started_at"]), outcome = Self.time(stages["outcome_at"])
            #expect(read != nil && started != nil && outcome != nil, "\(stages)")
            if let journaled, let read, let started, let outcome {
                #expect(journaled <= read && read <= started && started <= outcome, "\(stages)")
            }
            let second = Self.time(attempts.last?["started_at"]), first = Self.time(attempts.first?["started_at"])
            #expect(first != nil && second != nil && first! < second!)
            // doomed: two 500s and a dead letter, with the id `dlq list` shows.
            let doomed = Self.route(change, "doomed")
            #expect(((doomed["calls"] as? [[String: Any]])?.first?["attempts"] as? [[String: Any]])?.map { $0["outcome"] as? String }
                    == ["retrying", "dead_lettered"], "\(doomed)")
            let letter = doomed["dead_letter"] as? [String: Any] ?? [:]
            let listed = f.command(["dlq", "list", "--config", f.config, "--route", "doomed", "--format", "json"])
            let listedID = Self.objects(listed.output).first?["id"] as? Int
            #expect(doomed["state"] as? String == "dead_lettered" && letter["id"] as? Int == listedID && listedID != nil, "\(doomed) \(listed.output)")
            #expect(letter["attempts"] as? Int == 2 && letter["error_class"] as? String == "retryable_exhausted", "\(letter)")
            // big: filtered by its condition, with the condition's value.
            let big = Self.route(change, "big")
            #expect(big["matches"] as? Bool == false && big["condition"] as? String == "false" && big["state"] as? String == "filtered", "\(big)")
            #expect(big["reason"] as? String == "the if condition is false")
            // The update: ops filtered it out of flaky's and doomed's routes.
            let later = Self.objects(f.command(["event", "show", "--config", f.config, "--id", update, "--format", "json"]).output).first ?? [:]
            #expect(Self.route(later, "flaky")["reason"] as? String == "operation u is not among the route's ops", "\(later)")
            #expect(((Self.route(later, "settle")["calls"] as? [[String: Any]])?.first?["events"] as? [String]) == [update])
            // The text says the same, for a person; no protected value anywhere.
            let text = f.command(["event", "show", "--config", f.config, "--id", insert])
            for expected in ["change \(insert)  evshow.orders c", "route big (agent nothing): filtered", "verdict: filtered: the if condition is false (if: false)",
                             "debounced \(update)", "attempt 1: started", "retrying: ", "dead letter \(listedID ?? 0) (retryable_exhausted, 2 attempts)",
                             "stages: journaled → read"] {
                #expect(text.output.contains(expected), "\(expected) in\n\(text.output)")
            }
            #expect(![byKey.output, shown.output, text.output].contains { $0.contains(Self.secret) })
        }
    }

    /// The status page's search, change pages and route pages, served by a running `run`: the
    /// same story, linked from the routes table, and no protected value on any page.
    @Test func theStatusPageFindsAChangeAndLinksItsCallsAndDeadLetters() async throws {
        let f = try RouteFixture("evpage", tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric, note text);")
        defer { f.remove() }
        try f.configure("""
            server: { port: 0 }
            privacy: { columns: [{ match: evpage.orders.note, policy: redact }] }
            agents:
              nothing: { noop: {} }
              broken: { exec: { command: [/bin/false] } }
            routes:
              big: { tables: [evpage.orders], if: "double(event.after.total) > 100.0", agent: nothing }
              doomed: { tables: [evpage.orders], if: "event.after.id == 1", agent: broken, retries: { attempts: 1 } }
            """)
        let log = f.dir + "/run.log"
        let run = PostgresCluster.spawn([f.exe, "run", "--config", f.config], standardError: log)
        defer {
            kill(run, SIGKILL)
            _ = PostgresCluster.wait(run)
        }
        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        var port: Int?
        for _ in 0..<200 where port == nil {
            try await Task.sleep(for: .milliseconds(50))
            port = LogLines.last(in: logText(), message: "status server listening: /metrics, /healthz, /readyz, /")
                .flatMap { $0["server.port"] }.flatMap { Int($0) }
        }
        let server = try #require(port, "no status server line: \(logText())")
        try f.sql("INSERT INTO orders SELECT g, g * 10, '\(Self.secret)-' || g FROM generate_series(1, 20) g;")
        var routePage = ""
        for _ in 0..<100 {
            routePage = try await httpGet(server, "/route/doomed").body
            if routePage.firstMatch(of: /<table id="dead-letters">.*?\/change\?q=/.dotMatchesNewlines()) != nil { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        var pages: [String: String] = [:]
        // The main page: a search box, and each route linking to its page.
        let main = try await httpGet(server, "/")
        pages["main"] = main.body
        #expect(main.body.contains("<form id=\"search\" action=\"/change\" method=\"get\">") && main.body.contains("<a href=\"/route/doomed\">doomed</a>"))
        #expect(!main.body.contains("<script"))
        // The route page: its dead letter links to its change's page.
        pages["route"] = routePage
        let letters = routePage.firstMatch(of: /<table id="dead-letters">(.*?)<\/table>/.dotMatchesNewlines()).map { String($0.1) } ?? ""
        let letterLink = try #require(letters.firstMatch(of: /<a href="(\/change\?q=[0-9a-f]{16}-[0-9a-f]{8})">/).map { String($0.1) }, "\(routePage)")
        let calls = routePage.firstMatch(of: /<table id="calls">(.*?)<\/table>/.dotMatchesNewlines()).map { String($0.1) } ?? ""
        #expect(calls.contains(letterLink), "the call links to the same change: \(calls)")
        // The change page: the same story as event show, by the link and by the row's key.
        let change = try await httpGet(server, letterLink)
        pages["change"] = change.body
        #expect(change.status == 200, "\(change.body)")
        let id = String(letterLink.dropFirst("/change?q=".count))
        #expect(change.body.contains("<section class=\"change\" id=\"change-\(id)\">"))
        let doomed = change.body.firstMatch(of: /<div class="route" id="route-doomed">(.*?)<\/div>/.dotMatchesNewlines()).map { String($0.1) } ?? ""
        #expect(doomed.contains("<span class=\"state\">dead_lettered</span>") && doomed.contains("dead letter "), "\(doomed)")
        let big = change.body.firstMatch(of: /<div class="route" id="route-big">(.*?)<\/div>/.dotMatchesNewlines()).map { String($0.1) } ?? ""
        #expect(big.contains("verdict: filtered: the if condition is false (if: false)"), "\(big)")
        let byKey = try await httpGet(server, "/change?q=evpage.orders%3A1")
        pages["key"] = byKey.body
        #expect(byKey.status == 200 && byKey.body.contains("id=\"change-\(id)\""), "\(byKey.body)")
        let bad = try await httpGet(server, "/change?q=garbage")
        #expect(bad.status == 400 && bad.body.contains("neither an event id"), "\(bad.body)")
        let missing = try await httpGet(server, "/change?q=00000000ffffffff-00000000")
        #expect(missing.status == 404)
        // The leak scan over every page served.
        let scanned = f.dir + "/pages"
        try FileManager.default.createDirectory(atPath: scanned, withIntermediateDirectories: true)
        for (name, body) in pages { try body.write(toFile: scanned + "/" + name + ".html", atomically: true, encoding: .utf8) }
        let scan = LeakScan.scan([scanned], for: (1...20).map { "\(Self.secret)-\($0)" } + [Self.secret])
        #expect(scan.files == pages.count && scan.hits.isEmpty, "\(scan.hits.prefix(5))")
        kill(run, SIGTERM)
        #expect(PostgresCluster.wait(run) == 0)
    }

    @Test func badQueriesSayWhatToGive() async throws {
        let f = try RouteFixture("evbad", tables: "CREATE TABLE t (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.configure("sink: { file: { path: ./events.jsonl } }")
        for (arguments, message) in [
            (["--id", "nope"], "is not an event id"), (["--key", "nokey"], "is not schema.table:key"),
            (["--id", "0000000001a2b3c8-00000003"], "no journal in"), ([], "give --id or --key"),
        ] {
            let result = f.command(["event", "show", "--config", f.config] + arguments)
            #expect(result.status != 0 && result.output.contains(message), "\(arguments): \(result.output)")
        }
    }
}
