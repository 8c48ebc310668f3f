import Foundation
import PGReflexTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// What an operator sees of a running `pgreflex run`: /metrics, /healthz, /readyz, the status
/// page, `pgreflex status` and the JSON log lines; and `pgreflex demo`.
@Suite(.ownPostgresCluster, .serialized, .timeLimit(.minutes(10)))
struct OperateTests {
    static let secret = "pii-7731-do-not-leak"

    func get(_ port: Int, _ path: String) async throws -> (status: Int, body: String) {
        try await httpGet(port, path)
    }

    @Test func aRunServesMetricsHealthAndItsStatus() async throws {
        let f = try RouteFixture("operate", tables: "CREATE TABLE orders (id int PRIMARY KEY, total numeric, note text);")
        defer { f.remove() }
        try f.configure("""
            server: { port: 0 }
            agents:
              nothing: { noop: {} }
              broken: { exec: { command: [/bin/false] } }
            routes:
              big: { tables: [operate.orders], if: "double(event.after.total) > 100.0", agent: nothing }
              doomed: { tables: [operate.orders], if: "event.after.id == 1", agent: broken, retries: { attempts: 1 } }
            """)
        let log = f.dir + "/run.log"
        let run = PostgresCluster.spawn([f.exe, "run", "--config", f.config], standardError: log)
        defer {
            kill(run, SIGKILL)
            _ = PostgresCluster.wait(run)
        }
        var port: Int?
        for _ in 0..<200 where port == nil {
            try await Task.sleep(for: .milliseconds(50))
            port = LogLines.last(in: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "", message: "status server listening: /metrics, /healthz, /readyz, /")
                .flatMap { $0["server.port"] }.flatMap { Int($0) }
        }
        guard let port else {
            Issue.record("no status server line: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            return
        }
        try f.sql("INSERT INTO orders SELECT g, g * 10, '\(Self.secret)' FROM generate_series(1, 40) g;")
        // Ready once streaming; the calls show up in the metrics.
        var metrics = ""
        for _ in 0..<100 {
            do {
                metrics = try await get(port, "/metrics").body
            } catch {
                Issue.record("\(error): \(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(3000))")
                return
            }
            if metrics.contains("pgreflex_dead_letter_queue_size{route=\"doomed\"} 1") && metrics.contains("outcome=\"dispatched\"} 30") { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await get(port, "/healthz") == (200, "ok\n"))
        #expect(try await get(port, "/readyz") == (200, "ready: streaming\n"))
        for expected in [
            #"pgreflex_changes_received_total{table="operate.orders",op="c"} 40"#,
            #"pgreflex_route_events_total{route="big",table="operate.orders",op="c",outcome="filtered"} 10"#,
            #"pgreflex_route_events_total{route="big",table="operate.orders",op="c",outcome="dispatched"} 30"#,
            #"pgreflex_agent_call_duration_seconds_count{route="big",agent="nothing"} 30"#,
            #"pgreflex_commit_to_agent_seconds_bucket{route="big",agent="nothing",le="0.02"}"#,
            #"pgreflex_dead_letters_total{route="doomed",agent="broken"} 1"#,
            #"pgreflex_dead_letter_queue_size{route="doomed"} 1"#,
            #"pgreflex_agent_calls_in_flight{route="big",agent="nothing"} 0"#,
            #"pgreflex_route_queue_depth{route="big"} 0"#,
            "pgreflex_replication_lag_bytes ", "pgreflex_replication_lag_seconds ", #"pgreflex_consumer_lag_bytes{consumer="route:big"}"#,
            "pgreflex_journal_bytes ", #"pgreflex_slot_retained_wal_bytes{slot="operate_slot"}"#,
        ] {
            #expect(metrics.contains(expected), "\(expected) in\n\(metrics)")
        }
        // Prometheus text: every sample line is `name{labels} value`, the counters add up to the
        // changes written, and the histograms have buckets up to +Inf.
        var samples: [String: Double] = [:]
        for line in metrics.split(separator: "\n") where !line.hasPrefix("#") {
            guard let match = line.wholeMatch(of: /([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.eE+-]+|NaN|\+Inf)/) else {
                Issue.record("not Prometheus text: \(line)")
                continue
            }
            samples[String(match.1)] = Double(match.2)
        }
        func sample(_ key: String) -> Double { samples[key] ?? -1 }
        // Prometheus's own linter passes the scrape: every family has help text and a type.
        let lint = try Self.promtoolCheck(metrics)
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool check metrics: \(lint.output)")
        let families = metrics.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
        let described = metrics.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }
        #expect(families.count >= 13 && described.count == families.count, "\(families.count) families, \(described.count) with help")
        let routed = ["matched", "filtered"].map { sample(#"pgreflex_route_events_total{route="big",table="operate.orders",op="c",outcome="\#($0)"}"#) }
        #expect(routed.reduce(0, +) == 40 && sample(#"pgreflex_changes_received_total{table="operate.orders",op="c"}"#) == 40, "\(routed)")
        #expect(sample(#"pgreflex_agent_call_duration_seconds_bucket{route="big",agent="nothing",le="+Inf"}"#) == 30)
        #expect(sample(#"pgreflex_commit_to_agent_seconds_bucket{route="big",agent="nothing",le="+Inf"}"#) == 30)
        // The status page: server-rendered, one row per route, refreshing itself.
        let page = try await get(port, "/")
        #expect(page.status == 200 && page.body.hasPrefix("<!DOCTYPE html>") && page.body.contains("<meta http-equiv=\"refresh\""))
        let routes = page.body.firstMatch(of: /<table id="routes">(.*?)<\/table>/.dotMatchesNewlines()).map { String($0.1) } ?? ""
        // A route's name links to its page.
        let rows = routes.matches(of: /<tr>(.*?)<\/tr>/).map { $0.1.matches(of: /<t[dh]>(?:<a href="[^"]*">)?(.*?)(?:<\/a>)?<\/t[dh]>/).map { String($0.1) } }
        #expect(rows.count == 3 && rows.allSatisfy { $0.count == rows[0].count }, "\(routes)")
        #expect(rows.dropFirst().map { $0[0] } == ["big", "doomed"] && rows[1][4] == "30" && rows[2][9] == "1", "\(rows)")
        #expect(page.body.contains("<p id=\"capture\" class=\"ok\">capture: streaming</p>"))
        // pgreflex status, beside the run.
        let text = f.command(["status", "--config", f.config])
        #expect(text.status == 0 && text.output.contains("pgreflex run: running") && text.output.contains("capture: streaming")
                && text.output.contains("slot operate_slot: active") && text.output.contains("dead letters: 1"), "\(text.output)")
        let json = f.command(["status", "--config", f.config, "--format", "json"])
        let object = (try? JSONSerialization.jsonObject(with: Data(json.output.utf8))) as? [String: Any]
        let report = object?["report"] as? [String: Any]
        #expect(object?["running"] as? Bool == true, "\(json.output)")
        #expect(((report?["routes"] as? [String: Any])?["big"] as? [String: Any])?["calls"] as? Int == 30, "\(json.output)")
        #expect((report?["deadLetters"] as? [String: Any])?["doomed"] as? Int == 1, "\(json.output)")
        let store = f.status()
        for name in ["big", "doomed"] {
            let position = (((report?["routes"] as? [String: Any])?[name] as? [String: Any])?["position"] as? UInt64).map { String($0 >> 32, radix: 16, uppercase: true) + "/" + String($0 & 0xFFFF_FFFF, radix: 16, uppercase: true) }
            #expect(position != nil && store[name]?["position"]?.hasPrefix(position! + "#") == true, "\(name): \(position ?? "-") against \(store)")
            #expect(String((report?["deadLetters"] as? [String: Int])?[name] ?? 0) == store[name]?["dead_letters"], "\(store)")
        }
        // No row value reaches the metrics, the page, the status or the logs.
        let everything = [metrics, page.body, text.output, json.output, (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""]
        #expect(everything.allSatisfy { !$0.contains(Self.secret) })
        kill(run, SIGTERM)
        #expect(PostgresCluster.wait(run) == 0)
        // JSON lines on a pipe; one line per agent call with what an operator greps for.
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(!lines.isEmpty && LogLines.parse(lines.joined(separator: "\n")).count == lines.count, "every line is a JSON object")
        let call = LogLines.last(in: lines.joined(separator: "\n"), message: "agent call", matching: ["route": "doomed"]) ?? [:]
        #expect(call["agent"] == "broken" && call["attempt"] == "1" && call["outcome"] == "failed" && call["lsn"] != nil
                && call["event.id"] != nil && call["duration_ms"] != nil, "\(call)")
        // After the run: status says so, and still reads the store and the journal.
        let after = f.command(["status", "--config", f.config])
        #expect(after.output.contains("pgreflex run: not running") && after.output.contains("dead letters: 1"), "\(after.output)")
    }

    /// `promtool check metrics` (Debian's `prometheus` package, which `.ci/run` installs) on a
    /// scrape: its exit status and what it printed.
    static func promtoolCheck(_ metrics: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["promtool", "check", "metrics"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(metrics.utf8))
        try input.fileHandleForWriting.close()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: printed, as: UTF8.self))
    }

    @Test func textLogsOnRequest() throws {
        let f = try RouteFixture("textlog", tables: "CREATE TABLE t (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.configure("sink: { file: { path: ./events.jsonl } }")
        try f.cluster.psql("SELECT pg_drop_replication_slot('textlog_slot')")
        let result = f.command(["run", "--config", f.config, "--log-format", "text"])
        #expect(result.status == 1 && result.output.contains(" info ") && !result.output.contains("{\"ts\""), "\(result.output)")
        #expect(result.output.contains("slot_not_found"), "\(result.output)")
    }

    /// /readyz is ready only while capture streams: it flips when PostgreSQL stops, and back
    /// once capture has reconnected.
    @Test func readinessFollowsTheDatabase() async throws {
        let f = try RouteFixture("ready", tables: "CREATE TABLE t (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.configure("server: { port: 0 }\nsink: { file: { path: ./events.jsonl } }")
        let log = f.dir + "/run.log"
        let run = PostgresCluster.spawn([f.exe, "run", "--config", f.config], standardError: log)
        defer {
            kill(run, SIGKILL)
            _ = PostgresCluster.wait(run)
        }
        func readText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        var port: Int?
        for _ in 0..<200 where port == nil {
            try await Task.sleep(for: .milliseconds(50))
            port = LogLines.last(in: readText(), message: "status server listening: /metrics, /healthz, /readyz, /").flatMap { $0["server.port"] }.flatMap { Int($0) }
        }
        let bound = try #require(port, "\(readText())")
        func waitFor(_ status: Int, seconds: Int) async throws -> (Int, String) {
            var last = (0, "")
            for _ in 0..<(seconds * 5) {
                last = (try? await get(bound, "/readyz")) ?? (0, "")
                if last.0 == status { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            return last
        }
        #expect(try await waitFor(200, seconds: 10) == (200, "ready: streaming\n"))
        // Streaming for real (a change delivered) before the database goes away.
        try f.sql("INSERT INTO t VALUES (1);")
        for _ in 0..<100 where ((try? String(contentsOfFile: f.dir + "/events.jsonl", encoding: .utf8)) ?? "").isEmpty {
            try await Task.sleep(for: .milliseconds(100))
        }
        try f.cluster.stopServer()
        let down = try await waitFor(503, seconds: 15)
        #expect(down.0 == 503 && down.1.contains("not ready: capture lost its connection and is reconnecting"), "\(down) \(readText().suffix(1500))")
        #expect(try await get(bound, "/healthz").status == 200, "alive while not ready")
        try f.cluster.startServer()
        #expect(try await waitFor(200, seconds: 45) == (200, "ready: streaming\n"), "\(readText().suffix(1500))")
        kill(run, SIGTERM)
        #expect(PostgresCluster.wait(run) == 0)
    }

    /// Ctrl-C in the middle of the demo: it stops, still says what happened, and removes its
    /// database, its files and its processes.
    @Test func theDemoCleansUpAfterSIGINT() async throws {
        let dir = NSTemporaryDirectory() + "pgreflex-demo-int-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let demo = PostgresCluster.spawn(["/usr/bin/env", "-C", dir, try pgreflexExecutable(), "demo", "--duration", "300"],
                                         standardOutput: dir + "/demo.out", standardError: dir + "/demo.err")
        func log() -> String { (try? String(contentsOfFile: dir + "/demo.err", encoding: .utf8)) ?? "" }
        for _ in 0..<300 where !log().contains("status page:") { try await Task.sleep(for: .milliseconds(100)) }
        try await Task.sleep(for: .seconds(2))
        kill(demo, SIGINT)
        var status: Int32 = 0
        var exited = false
        for _ in 0..<600 {
            if waitpid(demo, &status, WNOHANG) == demo {
                exited = true
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        if !exited { kill(demo, SIGKILL) }
        #expect(exited && (status & 0x7F) == 0 && (status >> 8) & 0xFF == 0, "\(log().suffix(2000))")
        let output = (try? String(contentsOfFile: dir + "/demo.out", encoding: .utf8)) ?? ""
        #expect(output.contains("routes (agent calls"), "\(output)")
        let database = try #require(log().firstMatch(of: /PostgreSQL is up: host=(\/tmp\/pgr-\w+)/).map { String($0.1) }, "\(log())")
        #expect(!FileManager.default.fileExists(atPath: database), "the demo's directory is gone")
        #expect(PostgresCluster.run(["pgrep", "-f", database]).status == 1, "no process of the demo's database is left")
    }

    /// The README's first command, shortened: a throwaway database, the seeds' workflows under
    /// traffic, a summary, and nothing left behind. Run outside the source tree: the binary
    /// carries the demo's files.
    @Test func theDemoRunsTheWorkflowsAndCleansUp() async throws {
        let dir = NSTemporaryDirectory() + "pgreflex-demo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exe = try pgreflexExecutable()
        let status = try await runWithoutBlocking(["/usr/bin/env", "-C", dir, exe, "demo", "--duration", "6", "--rate", "40"], log: dir + "/demo.err",
                                                  standardOutput: dir + "/demo.out")
        let output = (try? String(contentsOfFile: dir + "/demo.out", encoding: .utf8)) ?? ""
        let log = (try? String(contentsOfFile: dir + "/demo.err", encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)\n\(log.suffix(3000))")
        for expected in ["public.orders", "fraud_check", "classify", "reorder", "payment holds placed", "tickets classified", "dead-letter queue: 0 entries"] {
            #expect(output.contains(expected), "\(expected) in\n\(output)")
        }
        let holds = output.firstMatch(of: /payment holds placed\s+(\d+)/).flatMap { Int($0.1) } ?? 0
        #expect(holds > 0, "\(output)")
        // Off a terminal, progress is a log line at most every 10 s and the last one: a 6 s run
        // with its wait for the agents logs two or three, not one every 250 ms.
        let progress = log.components(separatedBy: "demo progress").count - 1
        #expect((1...3).contains(progress), "\(progress) progress lines")
        let database = log.firstMatch(of: /PostgreSQL is up: host=(\/tmp\/pgr-\w+)/).map { String($0.1) }
        #expect(database != nil && !FileManager.default.fileExists(atPath: database ?? "/"), "the demo's database and files are gone: \(log.suffix(2000))")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == ["demo.err", "demo.out"], "nothing written where it ran")
    }

    @Test func theDemoWithoutPostgreSQLSaysHowToInstallIt() throws {
        let result = PostgresCluster.run([try pgreflexExecutable(), "demo"], environment: ["PGBIN": "/nonexistent", "PATH": "/usr/bin:/bin"])
        #expect(result.status == 1 && result.output.contains("postgres_binaries_missing"), "\(result.output)")
    }
}
