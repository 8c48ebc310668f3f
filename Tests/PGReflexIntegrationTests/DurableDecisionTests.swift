import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import PGReflexTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A model that answers every request differently: its n-th answer holds the order with
/// version n and notes it with version n. A call asked twice would leave two versions.
final class ChangingModel: Sendable {
    private let count = Mutex(0)
    var requests: Int { count.withLock { $0 } }

    func serving<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("v1/chat/completions") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let n = self.count.withLock { value in
                value += 1
                return value
            }
            let text = String(buffer: bytes)
            let order = text.firstMatch(of: /Order (\d+)/).map { String($0.1) } ?? "0"
            let decision = #"{"summary":"hold and note, version \#(n)","actions":[{"tool":"hold","args":{"order_id":\#(order),"version":\#(n)}},{"tool":"note","args":{"order_id":\#(order),"version":\#(n)}}],"citations":[]}"#
            let quoted = String(decoding: try JSONSerialization.data(withJSONObject: decision, options: [.fragmentsAllowed]), as: UTF8.self)
            let answer = #"{"id":"c\#(n)","object":"chat.completion","model":"changing","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":\#(quoted)}}],"usage":{"prompt_tokens":10,"completion_tokens":10,"total_tokens":20}}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: answer)))
        }
        return try await serveOnLoopback(router, body)
    }
}

/// Durable decisions: the decision is recorded before any action runs, and every later attempt
/// carries it out, whatever the model would say now.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct DurableDecisionTests {
    func configure(_ f: RouteFixture, port: Int) throws {
        try f.configure("""
            tools:
              hold:
                sql_exec: { statement: "INSERT INTO dd_side.holds VALUES ($1::int, $2::int)", parameters: [{ name: order_id, type: integer }, { name: version, type: integer }] }
              note:      # slow: a kill -9 lands after the first action and before the second is done
                sql_exec: { statement: "INSERT INTO dd_side.notes SELECT $1::int, $2::int FROM pg_sleep(0.3)", parameters: [{ name: order_id, type: integer }, { name: version, type: integer }] }
            agents:
              review:
                llm: { base_url: "http://127.0.0.1:\(port)/v1", model: changing, prompt: "Order {{event.after.id}}" }
                actions: [hold, note]
            routes:
              review: { tables: [dd.orders], agent: review, concurrency: 4, retries: { attempts: 20, backoff: { initial: 10ms, max: 50ms } }, start: earliest }
            """)
    }

    func count(_ f: RouteFixture, _ sql: String) throws -> Int {
        Int(try f.cluster.psql(sql).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Each order's stored decision: the version its actions carry, by order id.
    func storedVersions(_ f: RouteFixture) throws -> [Int: [Int]] {
        let database = try DatabaseQueue(path: f.dir + "/state/state.sqlite")
        let rows = try database.read { db in try Row.fetchAll(db, sql: "SELECT number, output FROM decisions ORDER BY event_id, number") }
        var versions: [Int: [Int]] = [:]
        for row in rows {
            let output = try #require(try JSONSerialization.jsonObject(with: row["output"] as Data) as? [String: Any])
            let actions = try #require(output["actions"] as? [[String: Any]])
            let args = try #require(actions.first?["args"] as? [String: Any])
            versions[args["order_id"] as! Int, default: []].append(args["version"] as! Int)
        }
        return versions
    }

    @Test func twentyKillNinesBetweenActionsCarryOutEachFirstDecisionOnce() async throws {
        let f = try RouteFixture("dd", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA dd_side; CREATE TABLE dd_side.holds (order_id int, version int); CREATE TABLE dd_side.notes (order_id int, version int);")
        let model = ChangingModel()
        try await model.serving { port in
            try configure(f, port: port)
            // 60 orders in 20 transactions while pgreflex is killed 20 times.
            let workload = PostgresCluster.spawn(["psql", f.cluster.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", """
                DO $$ BEGIN FOR i IN 0..19 LOOP
                  INSERT INTO dd.orders SELECT g FROM generate_series(i * 3 + 1, i * 3 + 3) g; COMMIT;
                  PERFORM pg_sleep(0.2);
                END LOOP; END $$;
                """])
            var random = SplitMix64(seed: 20261207)
            for _ in 0..<20 {
                let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config, "--log-level", "warning"], standardError: f.dir + "/run.log")
                try await Task.sleep(for: .milliseconds(Int.random(in: 300...1200, using: &random)))
                kill(pid, SIGKILL)
                _ = PostgresCluster.wait(pid)
            }
            #expect(PostgresCluster.wait(workload) == 0)
            let final = try await f.runToEndWithoutBlocking()
            #expect(final.status == 0, "\(final.output.suffix(2000))")
        }
        // Every order: one hold and one note, both from the call's first (and only) decision.
        #expect(try count(f, "SELECT count(*) FROM dd_side.holds") == 60)
        #expect(try count(f, "SELECT count(*) FROM dd_side.notes") == 60)
        #expect(try count(f, "SELECT count(DISTINCT order_id) FROM dd_side.holds") == 60)
        let mismatched = try f.cluster.psql("SELECT h.order_id, h.version, n.version FROM dd_side.holds h JOIN dd_side.notes n USING (order_id) WHERE h.version <> n.version")
        #expect(mismatched.isEmpty, "a note from another decision than its hold: \(mismatched)")
        let stored = try storedVersions(f)
        #expect(stored.count == 60 && stored.values.allSatisfy { $0.count == 1 }, "\(stored)")
        let carried = try f.cluster.psql("SELECT order_id || ':' || version FROM dd_side.holds").split(separator: "\n")
        for line in carried {
            let parts = line.split(separator: ":").compactMap { Int($0) }
            #expect(stored[parts[0]] == [parts[1]], "order \(parts[0]): the stored decision \(stored[parts[0]] ?? []) is not what was carried out (\(parts[1]))")
        }
        // The kills landed between actions: some calls were asked once and carried out later.
        #expect(model.requests >= 60)
    }

    @Test func aForcedReplayCarriesOutTheRecordedDecisionAndRedecideAsksAgain() async throws {
        let f = try RouteFixture("ddr", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA dd_side_r; CREATE TABLE dd_side_r.holds (order_id int, version int); CREATE TABLE dd_side_r.notes (order_id int, version int);")
        let model = ChangingModel()
        try await model.serving { port in
            try configure(f, port: port)
            let text = try String(contentsOfFile: f.config, encoding: .utf8).replacingOccurrences(of: "dd_side.", with: "dd_side_r.").replacingOccurrences(of: "[dd.orders]", with: "[ddr.orders]")
            try text.write(toFile: f.config, atomically: true, encoding: .utf8)
            try f.sql("INSERT INTO orders VALUES (1), (2);")
            let run = try await f.runToEndWithoutBlocking()
            #expect(run.status == 0 && model.requests == 2, "\(run.output.suffix(1500))")
            // A forced replay: the same decisions, the model not asked, every action already done.
            let replay = f.command(["replay", "--config", f.config, "--route", "review", "--from-lsn", "0/0", "--force"])
            #expect(replay.status == 0 && model.requests == 2, "\(replay.output)")
            #expect(try count(f, "SELECT count(*) FROM dd_side_r.holds") == 2)
            // --redecide: asked again; the new decisions' actions run under new keys.
            let redecide = f.command(["replay", "--config", f.config, "--route", "review", "--from-lsn", "0/0", "--force", "--redecide"])
            #expect(redecide.status == 0 && model.requests == 4, "\(redecide.output)")
        }
        #expect(try count(f, "SELECT count(*) FROM dd_side_r.holds") == 4)
        #expect(try count(f, "SELECT count(*) FROM dd_side_r.holds WHERE version > 2") == 2)
        #expect(try count(f, "SELECT count(*) FROM pgreflex.action_receipts WHERE idempotency_key LIKE '%:d2:%'") == 4)
        #expect(try storedVersions(f).values.map { $0.count }.sorted() == [2, 2])
        // event show names the decisions.
        let id = try #require(try f.cluster.psql("SELECT 1").isEmpty ? nil : f.command(["results", "list", "--config", f.config, "--format", "json"]).output
            .firstMatch(of: /"event_id":"([0-9a-f]{16}-[0-9a-f]{8})"/)?.1)
        let show = f.command(["event", "show", "--config", f.config, "--id", String(id)])
        #expect(show.output.contains("decided"), "\(show.output)")
    }
}
