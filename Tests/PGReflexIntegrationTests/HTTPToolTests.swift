import Foundation
import PGReflexTestSupport
import PGReflexTools
import PGReflexWire
import Testing

/// The `http` tool signs its requests as webhooks are signed (Standard Webhooks): the receiver
/// verifies them with the secret, and `webhook-id` is the action's idempotency key.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(5)))
struct HTTPToolTests {
    @Test func anHTTPActionIsSignedAndVerifies() async throws {
        let f = try RouteFixture("httpsig", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try """
            import json, sys
            order = json.load(sys.stdin)["after"]
            print(json.dumps({"summary": "ping", "actions": [{"tool": "ping", "args": {"order_id": order["id"]}}]}))
            """.write(toFile: f.dir + "/decide.py", atomically: true, encoding: .utf8)
        let secret = "whsec_" + Data((0..<24).map { UInt8($0) }).base64EncodedString()
        let receiver = WebhookReceiver { _, _ in (200, nil) }
        try await receiver.serving { port in
            try f.configure("""
                tools:
                  ping: { http: { url: "http://127.0.0.1:\(port)/hook", parameters: [{ name: order_id, type: integer }], secret_env: HTTP_TOOL_SECRET } }
                agents:
                  decide: { exec: { command: [python3, ./decide.py] }, actions: [ping] }
                routes:
                  decide: { tables: [httpsig.orders], agent: decide, start: earliest }
                """)
            try f.sql("INSERT INTO orders VALUES (7);")
            let end = try f.cluster.currentInsertLSN()
            let status = try await runWithoutBlocking([f.exe, "run", "--config", f.config, "--end-lsn", end.description], log: f.dir + "/run.log",
                                                      environment: ["HTTP_TOOL_SECRET": secret])
            #expect(status == 0, "\((try? String(contentsOfFile: f.dir + "/run.log", encoding: .utf8)) ?? "")")
        }
        let requests = receiver.requests
        try #require(requests.count == 1)
        let request = requests[0]
        #expect(request.id.hasPrefix("decide:decide:") && request.id.hasSuffix(":0"), "webhook-id is the action's idempotency key: \(request.id)")
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"order_id":"7"}"#)
        try WebhookSignature(secrets: [secret]).verify(id: request.id, timestamp: request.timestamp, signatures: request.signature, body: request.body)
        #expect(throws: WebhookSignature.Failure.self) {
            try WebhookSignature(secrets: ["whsec_" + Data(repeating: 9, count: 24).base64EncodedString()])
                .verify(id: request.id, timestamp: request.timestamp, signatures: request.signature, body: request.body)
        }
        // A secret that is not one is refused when the configuration loads, naming the setting.
        let check = f.command(["check", "--config", f.config, "--require-env"], environment: ["HTTP_TOOL_SECRET": "not-a-secret"])
        #expect(check.status != 0 && check.output.contains("tools.ping.http.secret_env: HTTP_TOOL_SECRET holds a secret that is not whsec_"), "\(check.output)")
    }
}

/// SQL tools run on a small pool of sessions: concurrent actions of one tool use up to `pool`
/// sessions, never more, each one action at a time.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(5)))
struct SQLToolPoolTests {
    @Test func concurrentActionsShareAPoolOfTwoSessions() async throws {
        let f = try RouteFixture("pool", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.cluster.psql("CREATE SCHEMA pool_side; CREATE TABLE pool_side.marks (order_id int, pid int);")
        try """
            import json, sys
            order = json.load(sys.stdin)["after"]
            print(json.dumps({"summary": "mark", "actions": [{"tool": "mark", "args": {"order_id": order["id"]}}]}))
            """.write(toFile: f.dir + "/decide.py", atomically: true, encoding: .utf8)
        try f.configure("""
            tools:
              mark:   # slow, so that calls overlap: each records the session (backend) it ran on
                sql_exec: { statement: "INSERT INTO pool_side.marks SELECT $1::int, pg_backend_pid() FROM pg_sleep(0.3)", parameters: [{ name: order_id, type: integer }], pool: 2 }
            agents:
              decide: { exec: { command: [python3, ./decide.py] }, actions: [mark] }
            routes:
              decide: { tables: [pool.orders], agent: decide, concurrency: 4, start: earliest }
            """)
        try f.sql("INSERT INTO orders SELECT generate_series(1, 8);")
        let run = try await f.runToEndWithoutBlocking()
        #expect(run.status == 0, "\(run.output.suffix(1500))")
        func count(_ sql: String) throws -> Int { Int(try f.cluster.psql(sql).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        #expect(try count("SELECT count(*) FROM pool_side.marks") == 8)
        #expect(try count("SELECT count(DISTINCT pid) FROM pool_side.marks") == 2, "\((try? f.cluster.psql("SELECT * FROM pool_side.marks")) ?? "")")
        // A pool past its bound is refused when the configuration loads.
        let text = try String(contentsOfFile: f.config, encoding: .utf8)
        try text.replacingOccurrences(of: "pool: 2", with: "pool: 500").write(toFile: f.config, atomically: true, encoding: .utf8)
        let check = f.command(["check", "--config", f.config])
        #expect(check.status != 0 && check.output.contains("tools.mark.sql_exec.pool is 500"), "\(check.output)")
    }
}
