import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import PGReflexTestSupport
import PGReflexThreads
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
        var contentType: String = ""
        var traceparent: String = ""
        var body: [UInt8]
        var at: ContinuousClock.Instant
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
        var after: [String: Any]? { json?["after"] as? [String: Any] }
    }

    let received = Mutex<[Received]>([])
    let polls = Mutex(0)
    /// The status and Retry-After (or, for a 202, the Location) for a request, given those before it.
    let answer: @Sendable (Received, [Received]) -> (Int, String?)
    /// GET /status, polled after a 202: the status for the n-th poll (from 1).
    let poll: @Sendable (Int) -> Int
    /// How long each POST takes to answer (a slow receiver).
    let delay: Duration

    init(delay: Duration = .zero, answer: @escaping @Sendable (Received, [Received]) -> (Int, String?), poll: @escaping @Sendable (Int) -> Int = { _ in 200 }) {
        self.answer = answer
        self.poll = poll
        self.delay = delay
    }

    /// Serves while `body` runs.
    func serving<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("hook") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            if self.delay > .zero { try await Task.sleep(for: self.delay) }
            let header = { (name: String) in request.headers[HTTPField.Name(name)!] ?? "" }
            let item = Received(id: header("webhook-id"), timestamp: header("webhook-timestamp"), signature: header("webhook-signature"),
                                contentType: header("content-type"), traceparent: header("traceparent"),
                                body: Array(bytes.readableBytesView), at: .now)
            let (status, extra) = self.received.withLock { list in
                defer { list.append(item) }
                return self.answer(item, list)
            }
            var headers = HTTPFields()
            if let extra { headers[status == 202 ? .location : .retryAfter] = extra }
            return Response(status: .init(code: status), headers: headers)
        }
        router.get("status") { _, _ -> Response in
            let n = self.polls.withLock { count in
                count += 1
                return count
            }
            let status = self.poll(n)
            var headers = HTTPFields()
            if status == 202 {
                headers[.location] = "/status"
                headers[.retryAfter] = "0"
            }
            return Response(status: .init(code: status), headers: headers,
                            body: .init(byteBuffer: .init(string: status == 200 ? #"{"summary":"approved"}"# : "")))
        }
        return try await serveOnLoopback(router, body)
    }

    var requests: [Received] { received.withLock { $0 } }
}

/// Serves `router` on 127.0.0.1 and a free port while `body` runs (given the port), then shuts
/// the server down gracefully. Cancelling it instead can drop a connection accepted but not yet
/// handled, which NIO treats as a fatal error (a writer never finished): seen in CI.
func serveOnLoopback<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: @Sendable (Int) async throws -> T) async throws -> T {
    // The bound port arrives as an event; a server that ends without binding ends the stream.
    let (bound, binding) = AsyncStream.makeStream(of: Int.self)
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { channel in
                              binding.yield(channel.localAddress?.port ?? 0)
                              binding.finish()
                          })
    let services = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "test-http-server")))
    // The server's tasks prefer a thread of their own: a test suite that blocks the cooperative
    // pool (2 threads on a 2-core machine) would otherwise hold its answers back for seconds,
    // seen as a webhook retried before its 429 was answered, or a model's call timing out.
    let thread = DedicatedThread()
    defer { thread.shutdown() }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask(executorPreference: thread) {
            defer { binding.finish() }
            try await services.run()
        }
        let outcome: Result<T, any Error>
        do {
            var ports = bound.makeAsyncIterator()
            guard let port = await ports.next(), port > 0 else { throw PostgresCluster.Failure(description: "the test HTTP server did not start") }
            outcome = .success(try await body(port))
        } catch {
            outcome = .failure(error)
        }
        await services.triggerGracefulShutdown()
        try await group.waitForAll()
        return try outcome.get()
    }
}

/// Runs a command without blocking a thread of the cooperative pool (the test's HTTP server
/// needs them), returning its exit status; its stderr goes to `log`.
func runWithoutBlocking(_ command: [String], log: String, standardOutput: String? = nil, environment: [String: String] = [:]) async throws -> Int32 {
    let pid = PostgresCluster.spawn(command, standardOutput: standardOutput, standardError: log,
                                    environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    var status: Int32 = 0
    let deadline = Date().addingTimeInterval(PostgresCluster.childTimeout)
    while waitpid(pid, &status, WNOHANG) == 0 {
        guard Date() < deadline else {
            kill(pid, SIGKILL)
            _ = PostgresCluster.wait(pid)
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            Issue.record("\(command.joined(separator: " ")) did not exit within \(Int(PostgresCluster.childTimeout)) s: killed. Its log:\n\(text.suffix(4000))")
            return PostgresCluster.timedOutStatus
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
}

/// ``runWithoutBlocking(_:log:standardOutput:environment:)`` with its stdout and stderr
/// captured (in files under `directory`, removed afterwards), as a ``PostgresCluster/RunResult``.
func runCapturing(_ command: [String], in directory: String, environment: [String: String] = [:]) async throws -> PostgresCluster.RunResult {
    let out = directory + "/out-\(UUID().uuidString)"
    defer {
        unlink(out)
        unlink(out + ".err")
    }
    let status = try await runWithoutBlocking(command, log: out + ".err", standardOutput: out, environment: environment)
    let output = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "") + ((try? String(contentsOfFile: out + ".err", encoding: .utf8)) ?? "")
    return PostgresCluster.RunResult(status: status, output: output)
}

/// The dispatcher's retries against a real HTTP receiver, through the `webhook` agent.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct WebhookRetryTests {
    static let secret = "whsec_" + Data("a test secret of 32 bytes length".utf8).base64EncodedString()

    func configure(_ f: RouteFixture, port: Int, retries: String, breaker: String = "{ failures: 100 }", format: String = "debezium",
                   path: String = "/hook") throws {
        try f.configure("""
            agents:
              hook: { webhook: { url: "http://127.0.0.1:\(port)\(path)", secret_env: TEST_WEBHOOK_SECRET, format: \(format) }, circuit_breaker: \(breaker) }
            routes:
              hook: { tables: ["\(f.name).*"], agent: hook, concurrency: 8, retries: \(retries), start: earliest }
            """)
    }

    func run(_ f: RouteFixture, secrets: String = WebhookRetryTests.secret) async throws -> (Int32, String) {
        let end = try f.cluster.currentInsertLSN()
        let log = f.dir + "/run.log"
        let status = try await runWithoutBlocking([f.exe, "run", "--config", f.config, "--end-lsn", end.description], log: log,
                                                  environment: ["TEST_WEBHOOK_SECRET": secrets])
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test func a429WithRetryAfterWaitsAsToldThenSucceeds() async throws {
        let f = try RouteFixture("ra", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.sql("INSERT INTO orders VALUES (1);")
        // The first attempt is told to come back in 2 s; the backoff alone would retry within
        // 500 ms (its max), and Retry-After used to be capped at that max.
        let receiver = WebhookReceiver { _, before in before.isEmpty ? (429, "2") : (200, nil) }
        let (status, log) = try await receiver.serving { port in
            try configure(f, port: port, retries: "{ attempts: 3, backoff: { initial: 100ms, max: 500ms } }")
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

    /// A Retry-After past `retries.retry_after_max` is not retried early: the call fails at once,
    /// retryable but exhausted, and the letter says why and what to change.
    @Test func aRetryAfterPastTheCeilingDeadLettersWithTheReason() async throws {
        let receiver = WebhookReceiver { _, _ in (429, "7200") }
        let list = try await deadLettersOfOneOrder("rx", through: receiver,
                                                   retries: "{ attempts: 3, backoff: { initial: 10ms, max: 1s }, retry_after_max: 1m }")
        #expect(receiver.requests.count == 1, "no early retry")
        #expect(list.contains("retryable_exhausted"), "\(list)")
        #expect(list.contains("retry_after_max"), "\(list)")
    }

    /// One order through `receiver` under `retries`; the run must end cleanly with one dead
    /// letter. Returns `dlq list`'s output.
    func deadLettersOfOneOrder(_ name: String, through receiver: WebhookReceiver, retries: String) async throws -> String {
        let f = try RouteFixture(name, tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.sql("INSERT INTO orders VALUES (1);")
        let (status, log) = try await receiver.serving { port in
            try configure(f, port: port, retries: retries)
            return try await run(f)
        }
        #expect(status == 0, "\(log)")
        #expect(f.status()["hook"]?["dead_letters"] == "1")
        return f.command(["dlq", "list", "--config", f.config]).output
    }

    /// A webhook bounds each request by the route's timeout itself (the dispatcher runs no timer
    /// beside it): a receiver slower than that fails each attempt as a timeout, and the call is
    /// dead-lettered after its attempts.
    @Test func aReceiverSlowerThanTheTimeoutFailsEachAttemptAsATimeout() async throws {
        let receiver = WebhookReceiver(delay: .seconds(3)) { _, _ in (200, nil) }
        let list = try await deadLettersOfOneOrder("slow", through: receiver,
                                                   retries: "{ attempts: 2, backoff: { initial: 10ms, max: 10ms }, timeout: 300ms }")
        #expect(receiver.requests.count == 2, "two attempts, each cut short")
        #expect(list.contains("did not answer within"), "\(list)")
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
        for id in 1...3 {
            let ids = Set(requests.filter { $0.after?["id"] as? Int == id }.map(\.id))
            #expect(ids.count == 1, "every retry after a 503 keeps the event's webhook-id: \(ids)")
        }
        #expect(log.contains("circuit breaker opened"))
        #expect(f.status()["hook"]?["dead_letters"] == "0", "waiting on an open breaker is not a failure")
        #expect(RouteFixture.stopped("hook", in: log)["route.succeeded"] == "3")
    }

    @Test func a202IsPolledUntilItsAnswerAndA410PausesTheRoute() async throws {
        let f = try RouteFixture("acc", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.sql("INSERT INTO orders VALUES (1);")
        try f.sql("INSERT INTO orders VALUES (2);")
        // Order 1: accepted, then polled twice before its answer. Order 2: the receiver first says
        // 410 (come back in 1 s), then takes it.
        let receiver = WebhookReceiver(answer: { request, before in
            if request.after?["id"] as? Int == 1 { return (202, "/status") }
            return before.contains { $0.after?["id"] as? Int == 2 } ? (200, nil) : (410, "1")
        }, poll: { n in n < 3 ? 202 : 200 })
        let (status, log) = try await receiver.serving { port in
            try configure(f, port: port, retries: "{ attempts: 3 }")
            return try await run(f)
        }
        #expect(status == 0, "\(log)")
        #expect(receiver.polls.withLock { $0 } == 3, "polled until the final answer")
        #expect(log.contains("the agent asked to be disabled: the route pauses"))
        let second = receiver.requests.filter { $0.after?["id"] as? Int == 2 }
        #expect(second.count == 2 && second[0].at.duration(to: second[1].at) >= .milliseconds(900), "paused as the 410 said, then delivered")
        #expect(f.status()["hook"]?["dead_letters"] == "0")
        #expect(RouteFixture.stopped("hook", in: log)["route.succeeded"] == "2")
    }

    /// While a secret is rotated, both sign: receivers holding either the old or the new one
    /// verify the same request.
    @Test func rotationSendsTwoSignaturesAndEitherSecretVerifies() async throws {
        let f = try RouteFixture("rot", tables: "CREATE TABLE tickets (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.sql("INSERT INTO tickets VALUES (1);")
        let newer = "whsec_" + Data("the rotated secret, 32 bytes too".utf8).base64EncodedString()
        let receiver = WebhookReceiver { _, _ in (200, nil) }
        let (status, log) = try await receiver.serving { port in
            try configure(f, port: port, retries: "{ attempts: 1 }")
            return try await run(f, secrets: "\(Self.secret) \(newer)")
        }
        #expect(status == 0, "\(log)")
        let request = try #require(receiver.requests.first)
        #expect(request.signature.split(separator: " ").count == 2 && request.signature.split(separator: " ").allSatisfy { $0.hasPrefix("v1,") })
        let body = f.dir + "/request.json"
        try Data(request.body).write(to: URL(fileURLWithPath: body))
        let headers = ["--header", "webhook-id: \(request.id)", "--header", "webhook-timestamp: \(request.timestamp)",
                       "--header", "webhook-signature: \(request.signature)"]
        for secret in [Self.secret, newer] {
            let verified = f.command(["webhook", "verify", "--secret", secret, "--body", body] + headers)
            #expect(verified.status == 0 && verified.output.contains("verified"), "\(verified.output)")
        }
    }

    @Test func cloudEventsAndASavedRequestVerifies() async throws {
        let f = try RouteFixture("ce", tables: "CREATE TABLE tickets (id int PRIMARY KEY, body text);")
        defer { f.remove() }
        try f.sql("INSERT INTO tickets VALUES (7, 'printer on fire');")
        let receiver = WebhookReceiver { _, _ in (200, nil) }
        let (status, log) = try await receiver.serving { port in
            try configure(f, port: port, retries: "{ attempts: 1 }", format: "cloudevents")
            return try await run(f)
        }
        #expect(status == 0, "\(log)")
        let request = try #require(receiver.requests.first)
        let event = try #require(request.json)
        #expect(request.contentType == "application/cloudevents+json")
        #expect(event["specversion"] as? String == "1.0" && event["id"] as? String == request.id && event["type"] as? String == "pgreflex.change.c")
        #expect(((event["data"] as? [String: Any])?["after"] as? [String: Any])?["id"] as? Int == 7)
        #expect(request.traceparent.range(of: "^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", options: .regularExpression) != nil)
        // A receiver checks a saved request with `pgreflex webhook verify`; a changed byte fails it.
        let body = f.dir + "/request.json"
        try Data(request.body).write(to: URL(fileURLWithPath: body))
        let headers = ["--header", "webhook-id: \(request.id)", "--header", "webhook-timestamp: \(request.timestamp)",
                       "--header", "webhook-signature: \(request.signature)"]
        let ok = f.command(["webhook", "verify", "--secret", Self.secret, "--body", body] + headers)
        #expect(ok.status == 0 && ok.output.contains("verified"), "\(ok.output)")
        try Data(request.body.map { $0 == UInt8(ascii: "7") ? UInt8(ascii: "8") : $0 }).write(to: URL(fileURLWithPath: body))
        let tampered = f.command(["webhook", "verify", "--secret", Self.secret, "--body", body] + headers)
        #expect(tampered.status == 1 && tampered.output.contains("no_matching_signature"), "\(tampered.output)")
        let late = f.command(["webhook", "verify", "--secret", Self.secret, "--body", body, "--now", "\((Int(request.timestamp) ?? 0) + 600)"] + headers)
        #expect(late.status == 1 && late.output.contains("timestamp_out_of_tolerance"), "\(late.output)")
    }

    @Test func theExampleReceiverVerifiesWhatPgreflexSends() async throws {
        let f = try RouteFixture("exr", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try f.sql("INSERT INTO orders SELECT generate_series(1, 3);")
        let port = try PostgresCluster.freePort()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/webhook-receiver.py").path
        let receiver = PostgresCluster.spawn(["python3", script, "--port", "\(port)", "--out", f.dir + "/received.jsonl", "--secret-env", "TEST_WEBHOOK_SECRET"],
                                             standardError: f.dir + "/receiver.log",
                                             environment: ProcessInfo.processInfo.environment.merging(["TEST_WEBHOOK_SECRET": Self.secret]) { $1 })
        defer {
            // SIGKILL: the child may inherit a mask that blocks SIGTERM from the test's thread.
            kill(receiver, SIGKILL)
            _ = PostgresCluster.wait(receiver)
        }
        for _ in 0..<50 where !((try? String(contentsOfFile: f.dir + "/receiver.log", encoding: .utf8)) ?? "").contains("listening") {
            try await Task.sleep(for: .milliseconds(100))
        }
        try configure(f, port: port, retries: "{ attempts: 1 }", path: "/")
        let (status, log) = try await run(f)
        #expect(status == 0, "\(log)")
        #expect(try f.lines("received.jsonl").compactMap { $0.after?["id"] as? Int }.sorted() == [1, 2, 3], "every request verified")
        #expect(f.status()["hook"]?["dead_letters"] == "0")
    }
}
