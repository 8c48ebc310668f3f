import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import PGReflexTestSupport
import PGReflexWire
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP server on 127.0.0.1 that records each request and answers as the test says.
final class WebhookReceiver: Sendable {
    struct Received: Sendable {
        var id: String
        var timestamp: String
        var signature: String
        var body: [UInt8]
        var at: ContinuousClock.Instant
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
        var after: [String: Any]? { json?["after"] as? [String: Any] }
    }

    let received = Mutex<[Received]>([])
    let port = Mutex<Int?>(nil)
    /// The status and Retry-After for a request, given those before it.
    let answer: @Sendable (Received, [Received]) -> (Int, String?)

    init(answer: @escaping @Sendable (Received, [Received]) -> (Int, String?)) {
        self.answer = answer
    }

    /// Serves while `body` runs.
    func serving<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let header = { (name: String) in request.headers[HTTPField.Name(name)!] ?? "" }
            let item = Received(id: header("webhook-id"), timestamp: header("webhook-timestamp"), signature: header("webhook-signature"),
                                body: Array(bytes.readableBytesView), at: .now)
            let (status, retryAfter) = self.received.withLock { list in
                defer { list.append(item) }
                return self.answer(item, list)
            }
            var headers = HTTPFields()
            if let retryAfter { headers[.retryAfter] = retryAfter }
            return Response(status: .init(code: status), headers: headers)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in self.port.withLock { $0 = channel.localAddress?.port } })
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.run()
                return nil
            }
            var bound: Int?
            for _ in 0..<100 where bound == nil {
                try await Task.sleep(for: .milliseconds(20))
                bound = port.withLock { $0 }
            }
            guard let bound else { throw PostgresCluster.Failure(description: "the test webhook server did not start") }
            let result = try await body(bound)
            group.cancelAll()
            return result
        }
    }

    var requests: [Received] { received.withLock { $0 } }
}

/// Runs a command without blocking a thread of the cooperative pool (the test's HTTP server
/// needs them), returning its exit status; its stderr goes to `log`.
func runWithoutBlocking(_ command: [String], log: String) async throws -> Int32 {
    let pid = PostgresCluster.spawn(command, standardError: log)
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) == 0 { try await Task.sleep(for: .milliseconds(50)) }
    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
}

/// The dispatcher's retries against a real HTTP receiver, through the `webhook` agent.
@Suite(.postgresCluster, .serialized)
struct WebhookRetryTests {
    static let secret = "whsec_" + Data("a test secret of 32 bytes length".utf8).base64EncodedString()

    func configure(_ f: RouteFixture, port: Int, retries: String, breaker: String = "{ failures: 100 }") throws {
        try f.configure("""
            agents:
              hook: { webhook: { url: "http://127.0.0.1:\(port)/hook", secret_env: TEST_WEBHOOK_SECRET }, circuit_breaker: \(breaker) }
            routes:
              hook: { tables: ["\(f.name).*"], agent: hook, concurrency: 8, retries: \(retries), start: earliest }
            """)
    }

    func run(_ f: RouteFixture) async throws -> (Int32, String) {
        let end = try f.cluster.currentInsertLSN()
        let log = f.dir + "/run.log"
        setenv("TEST_WEBHOOK_SECRET", Self.secret, 1)
        let status = try await runWithoutBlocking([f.exe, "run", "--config", f.config, "--end-lsn", end.description], log: log)
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test func a429WithRetryAfterWaitsAsToldThenSucceeds() async throws {
        let f = try RouteFixture("ra", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.sql("INSERT INTO orders VALUES (1);")
        // The first attempt is told to come back in 2 s; the backoff alone would retry in 10 ms.
        let receiver = WebhookReceiver { _, before in before.isEmpty ? (429, "2") : (200, nil) }
        let (status, log) = try await receiver.serving { port in
            try configure(f, port: port, retries: "{ attempts: 3, backoff: { initial: 10ms, max: 30s } }")
            return try await run(f)
        }
        #expect(status == 0, "\(log)")
        let requests = receiver.requests
        #expect(requests.count == 2, "\(log)")
        guard requests.count == 2 else { return }
        #expect(requests[0].id == requests[1].id, "the same webhook-id on the retry")
        #expect(requests[0].at.duration(to: requests[1].at) >= .milliseconds(1900), "waited as told")
        // Signed as Standard Webhooks says: v1,base64(HMAC-SHA256("id.timestamp.body")).
        let key = SymmetricKey(data: Data(base64Encoded: String(Self.secret.dropFirst(6)))!)
        let signed = Array("\(requests[1].id).\(requests[1].timestamp).".utf8) + requests[1].body
        let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
        #expect(requests[1].signature == expected)
        #expect(requests[1].after?["id"] as? Int == 1)
        #expect(f.status()["hook"]?["dead_letters"] == "0")
    }

    @Test func aPoisonEventBlocksOnlyItsKey() async throws {
        let f = try RouteFixture("poison", tables: "CREATE TABLE accounts (id int PRIMARY KEY, n int);")
        defer { f.remove() }
        try f.sql("""
            INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 4) g;
            UPDATE accounts SET n = 1;
            """)
        // Account 3's first event always fails (retryable); after three attempts it is dead-lettered.
        let receiver = WebhookReceiver { request, _ in
            (request.after?["id"] as? Int == 3 && request.after?["n"] as? Int == 0) ? (500, nil) : (200, nil)
        }
        let (status, log) = try await receiver.serving { port in
            try configure(f, port: port, retries: "{ attempts: 3, backoff: { initial: 300ms, max: 300ms, multiplier: 1 } }")
            return try await run(f)
        }
        #expect(status == 0, "\(log)")
        let requests = receiver.requests
        let poison = requests.filter { $0.after?["id"] as? Int == 3 && $0.after?["n"] as? Int == 0 }
        #expect(poison.count == 3, "three attempts")
        guard let lastAttempt = poison.last?.at else { return }
        let others = requests.filter { $0.after?["id"] as? Int != 3 }
        #expect(others.count == 6 && others.allSatisfy { $0.at < lastAttempt }, "the other keys did not wait for the poison")
        let next = requests.filter { $0.after?["id"] as? Int == 3 && $0.after?["n"] as? Int == 1 }
        #expect(next.count == 1 && next[0].at > lastAttempt, "the poison's own key waited behind it")
        #expect(f.status()["hook"]?["dead_letters"] == "1")
    }

    @Test func anOpenBreakerHoldsEventsWithoutDeadLetteringThem() async throws {
        let f = try RouteFixture("brk", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.sql("INSERT INTO orders SELECT generate_series(1, 3);")
        // The receiver is down for its first 2 s. Without a breaker, three events retried every
        // 20 ms would knock about 300 times; the breaker lets two failures and a probe a second through.
        let started = Mutex<ContinuousClock.Instant?>(nil)
        let receiver = WebhookReceiver { request, _ in
            let first = started.withLock { $0 = $0 ?? request.at; return $0! }
            return first.duration(to: request.at) < .seconds(2) ? (503, nil) : (200, nil)
        }
        let (status, log) = try await receiver.serving { port in
            try configure(f, port: port, retries: "{ attempts: 1000, backoff: { initial: 20ms, max: 20ms } }", breaker: "{ failures: 2, cool_down: 500ms }")
            return try await run(f)
        }
        #expect(status == 0, "\(log)")
        let requests = receiver.requests
        let failing = requests.filter { $0.at < requests[0].at.advanced(by: .seconds(2)) }.count
        #expect(failing <= 10, "the breaker held the calls back: \(failing) requests while the receiver was down")
        #expect(log.contains("circuit breaker opened"))
        #expect(f.status()["hook"]?["dead_letters"] == "0", "waiting on an open breaker is not a failure")
        #expect(RouteFixture.stopped("hook", in: log)["route.succeeded"] == "3")
    }
}
