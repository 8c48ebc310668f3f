import Foundation
import Logging
import PGReflexStatus
import PGReflexTransport
import PGReflexWire
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The demo's shop: orders (a few large, a few first orders, now and then one customer placing
/// three large orders in a row), status changes, support tickets, stock going down and being
/// restocked, and audits that touch nothing an agent cares about. Offered at `rate` changes a
/// second for `duration`; then it waits for the agents to finish, and its return ends the run.
/// It shows progress as it goes: one line redrawn on a terminal four times a second; off a
/// terminal (CI, a pipe) a log line at most every 10 s, and only when a count changed.
final class DemoTraffic: Service, Sendable {
    static let skus = (1...12).map { String(format: "SKU-%02d", $0) }

    static let seedSQL = "INSERT INTO inventory (sku, warehouse_id, quantity_on_hand, attrs) SELECT s, w, 32, '{\"reorder_point\": 25}' FROM unnest(ARRAY["
        + skus.map { "'\($0)'" }.joined(separator: ",") + "]) s, generate_series(1, 2) w"

    static let subjects = [
        "Refund for a double charge", "Package is late", "Cannot log in to my account", "Wrong size delivered",
        "Invoice needs a VAT number", "Where is my parcel?", "Password reset link expired", "Item arrived damaged",
    ]

    let conninfo: String
    let rate: Int
    let duration: Duration
    /// How often one customer places three large orders in a row (the breach window's trigger).
    let burstEvery: Duration
    /// With a model: how long the end waits for each call still running or queued (at least
    /// 60 s in all); nil: 60 s.
    let callBudget: Duration?
    let status: PipelineStatus
    let interactive: Bool
    let logger: Logger
    /// Changes written, by table.
    let written = Mutex<[String: Int]>([:])
    /// Off a terminal: when the last progress line was logged, and its counts.
    let lastLogged = Mutex<(at: ContinuousClock.Instant, counts: [Int])?>(nil)
    static let logInterval = Duration.seconds(10)

    init(conninfo: String, rate: Int, duration: Duration, burstEvery: Duration = .seconds(10), callBudget: Duration? = nil,
         status: PipelineStatus, interactive: Bool, logger: Logger) {
        self.conninfo = conninfo
        self.callBudget = callBudget
        self.burstEvery = burstEvery
        self.rate = rate
        self.duration = duration
        self.status = status
        self.interactive = interactive
        self.logger = logger
    }

    func run() async throws {
        var random = SystemRandomNumberGenerator()
        let clock = ContinuousClock()
        let start = clock.now
        let end = start.advanced(by: duration)
        let tick = Duration.milliseconds(20)
        var owed = 0.0
        var nextProgress = start
        var nextBurst = start.advanced(by: .seconds(4))
        var stopped = false
        // The session writes the traffic and is closed when the traffic stops.
        try await PostgresConnection.withConnection(conninfo, mode: .sql, applicationName: "pgreflex-demo-traffic", logger: logger) { session in
            while clock.now < end && !Task.isShuttingDownGracefully {
                owed += Double(rate) * 0.02
                while owed >= 1 {
                    owed -= 1
                    try await change(session, random: &random)
                }
                if clock.now >= nextBurst {
                    // One customer, three orders over 500 in a row: the breach window fires.
                    nextBurst = clock.now.advanced(by: burstEvery)
                    let customer = Int.random(in: 900...999, using: &random)
                    for _ in 0..<3 {
                        try await session.execute("INSERT INTO orders (customer_id, total_amount, status, is_first_order) VALUES (\(customer), \(Int.random(in: 520...2400, using: &random)).00, 'new', false)")
                        count("public.orders")
                    }
                }
                if clock.now >= nextProgress {
                    nextProgress = clock.now.advanced(by: .milliseconds(250))
                    progress(elapsed: start.duration(to: clock.now))
                }
                if (try? await cancelWhenGracefulShutdown({ try await Task.sleep(until: clock.now.advanced(by: tick)) })) == nil { stopped = true }
            }
        }
        // The agents finish what was written (up to 60 s, or a call budget for each call left),
        // unless a Ctrl-C cut the demo short.
        let left = status.report(now: 0).routes.values.reduce(0) { $0 + $1.inFlight + $1.queued }
        let quietBy = clock.now.advanced(by: max(.seconds(60), (callBudget ?? .zero) * (left + 1)))
        while !stopped && !Task.isShuttingDownGracefully && clock.now < quietBy {
            let report = status.report(now: 0)
            let behind = report.routes.values.contains { $0.inFlight > 0 || $0.queued > 0 } || !report.capture.progress.caughtUp
                || report.consumers.contains { $0.lagBytes > 0 }
            if !behind { break }
            progress(elapsed: start.duration(to: clock.now))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(250)) }
        }
        progress(elapsed: start.duration(to: clock.now), final: true)
        if interactive { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }

    private func change(_ session: PostgresConnection, random: inout SystemRandomNumberGenerator) async throws {
        let roll = Int.random(in: 0..<100, using: &random)
        let sku = Self.skus.randomElement(using: &random)!
        let warehouse = Int.random(in: 1...2, using: &random)
        switch roll {
        case 0..<40:
            let large = Int.random(in: 0..<100, using: &random) < 4
            let total = large ? Int.random(in: 501...1800, using: &random) : Int.random(in: 9...420, using: &random)
            let first = Int.random(in: 0..<100, using: &random) < 5
            try await session.execute("INSERT INTO orders (customer_id, total_amount, status, is_first_order) VALUES (\(Int.random(in: 1...400, using: &random)), \(total).\(Int.random(in: 0...99, using: &random)), 'new', \(first))")
            count("public.orders")
        case 40..<58:
            try await session.execute("UPDATE orders SET status = 'shipped' WHERE id = (SELECT max(id) - \(Int.random(in: 0...30, using: &random)) FROM orders)")
            count("public.orders")
        case 58..<66:
            let subject = Self.subjects.randomElement(using: &random)!.replacingOccurrences(of: "'", with: "''")
            try await session.execute("INSERT INTO support_tickets (order_id, priority, subject) VALUES ((SELECT max(id) FROM orders), 3, '\(subject)')")
            count("public.support_tickets")
        case 66..<94:
            // Stock goes down; under 8 it is restocked.
            try await session.execute("""
                UPDATE inventory SET quantity_on_hand = CASE WHEN quantity_on_hand < 8 THEN 60 ELSE quantity_on_hand - \(Int.random(in: 1...6, using: &random)) END
                WHERE sku = '\(sku)' AND warehouse_id = \(warehouse)
                """)
            count("public.inventory")
        default:
            // An audit: attrs change, the stock does not. The reorder route ignores it.
            try await session.execute("UPDATE inventory SET attrs = attrs || jsonb_build_object('audited_at', now()::text) WHERE sku = '\(sku)' AND warehouse_id = \(warehouse)")
            count("public.inventory")
        }
    }

    private func count(_ table: String) {
        written.withLock { $0[table, default: 0] += 1 }
    }

    /// `final`: the last line, logged off a terminal whatever the interval.
    private func progress(elapsed: Duration, final: Bool = false) {
        let report = status.report(now: PostgresTimestamp.now().unixMicroseconds)
        let routes = report.routes.values
        let read = report.capture.progress.changes
        let filtered = routes.reduce(0) { $0 + $1.filtered + $1.skipped }
        let dispatched = routes.reduce(0) { $0 + $1.calls }
        let letters = routes.reduce(0) { $0 + $1.deadLettered }
        let p99 = report.commitToAgent.percentile(0.99).map(StatusReport.micros) ?? "-"
        let lag = report.capture.progress.lagSeconds(now: report.generatedAt)
        let line = "\(elapsed.components.seconds)s  read \(read)  filtered \(filtered)  dispatched \(dispatched)  in flight \(report.inFlight)  "
            + "DLQ \(letters)  lag \(StatusReport.bytes(Int64(report.capture.progress.lagBytes))) \(StatusReport.duration(lag))  p99 \(p99)"
        if interactive {
            FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
        } else {
            let counts = [read, filtered, dispatched, report.inFlight, letters]
            let now = ContinuousClock.now
            let due = lastLogged.withLock { last -> Bool in
                if let last, last.counts == counts || (!final && now < last.at.advanced(by: Self.logInterval)) { return false }
                last = (now, counts)
                return true
            }
            guard due else { return }
            logger.notice("demo progress", metadata: [
                "demo.changes": "\(read)", "demo.filtered": "\(filtered)", "demo.agent_calls": "\(dispatched)",
                "demo.in_flight": "\(report.inFlight)", "demo.dead_letters": "\(letters)", "demo.lag_bytes": "\(report.capture.progress.lagBytes)",
            ])
        }
    }
}
