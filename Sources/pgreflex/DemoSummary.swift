import PGReflexConfig
import PGReflexDelivery
import PGReflexRouter
import PGReflexStatus
import PGReflexTransport
import Synchronization

/// What the demo did, as a table: changes per table, each route's work, what the agents' actions
/// left in the database, the dead-letter queue, and commit → agent start latency.
struct DemoSummary {
    var text: String

    static func collect(status: PipelineStatus, traffic: DemoTraffic, session: PostgresConnection,
                        configuration: RunConfiguration, sizing: DemoModelSizing? = nil) async throws -> DemoSummary {
        let report = status.report(now: 0)
        let written = traffic.written.withLock { $0 }
        func count(_ sql: String) async -> String {
            ((try? await session.execute(sql))?.first?.first ?? nil) ?? "-"
        }
        var lines = ["", "changes written", StatusReport.table([["table", "changes"]] + written.keys.sorted().map { [$0, "\(written[$0]!)"] }, indent: "  ")]
        lines.append("  captured by pgreflex: \(report.capture.progress.changes) changes in \(report.capture.progress.transactions) transactions (the agents' own writes included)")
        lines.append("")
        lines.append("routes (agent calls; latency is commit to agent start)")
        var rows = [["route", "agent", "read", "matched", "calls", "ok", "retries", "dead letters", "p50", "p95", "p99"]]
        for name in configuration.routes.map(\.name) {
            guard let route = report.routes[name] else { continue }
            let latency = route.commitToAgent.summary
            rows.append([name, route.agent, "\(route.read)", "\(route.matched)", "\(route.calls)", "\(route.succeeded)",
                         "\(route.retries)", "\(route.deadLettered)", latency.p50.map(StatusReport.micros) ?? "-",
                         latency.p95.map(StatusReport.micros) ?? "-", latency.p99.map(StatusReport.micros) ?? "-"])
        }
        let all = report.commitToAgent.summary
        let calls = report.routes.values.reduce(0) { $0 + $1.calls }
        let letters = report.routes.values.reduce(0) { $0 + $1.deadLettered }
        rows.append(["all", "", "", "", "\(calls)", "\(report.routes.values.reduce(0) { $0 + $1.succeeded })", "", "\(letters)",
                     all.p50.map(StatusReport.micros) ?? "-", all.p95.map(StatusReport.micros) ?? "-", all.p99.map(StatusReport.micros) ?? "-"])
        lines.append(StatusReport.table(rows, indent: "  "))
        if let sizing {
            // Every LLM call should finish: the demo was sized so that they do.
            let llm = Set(sizing.callSeconds.map(\.agent))
            let routes = report.routes.values.filter { llm.contains($0.agent) }
            let finished = routes.reduce(0) { $0 + $1.succeeded + $1.deadLettered }
            let abandoned = routes.reduce(0) { $0 + max(0, $1.matched - $1.skipped - $1.succeeded - $1.deadLettered) }
            lines.append("  " + sizing.summaryLine)
            lines.append("  LLM calls: \(finished) finished (\(routes.reduce(0) { $0 + $1.succeeded }) ok, "
                + "\(routes.reduce(0) { $0 + $1.deadLettered }) dead-lettered), \(abandoned) abandoned")
        }
        lines.append("")
        lines.append("what the agents did (each action once, with a receipt)")
        lines.append(StatusReport.table([
            ["result", "rows"],
            ["payment holds placed", await count("SELECT count(*) FROM ops.payment_holds")],
            ["tickets classified", await count("SELECT count(*) FROM public.support_tickets WHERE tags IS NOT NULL")],
            ["purchase orders drafted", await count("SELECT count(*) FROM ops.purchase_order_drafts")],
            ["risk tickets (breaches)", await count("SELECT count(*) FROM ops.risk_tickets")],
            ["action receipts", await count("SELECT count(*) FROM pgreflex.action_receipts")],
        ], indent: "  "))
        lines.append("")
        lines.append("dead-letter queue: \(letters) entries" + (letters > 0 ? " (pgreflex dlq list --config … shows them)" : ""))
        return DemoSummary(text: lines.joined(separator: "\n"))
    }
}
