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
