/// `pgreflex status`: the report as a person reads it at a glance.
extension StatusReport {
    /// `running`: whether the process that wrote the report is alive and wrote it lately.
    public func text(now: Int64, running: Bool) -> String {
        var lines: [String] = []
        let age = Double(now - generatedAt) / 1e6
        if running {
            lines.append("pgreflex run: running (pid \(pid), up \(Self.duration(Double(now - startedAt) / 1e6)))")
        } else if generatedAt > 0 {
            lines.append("pgreflex run: not running (last status \(Self.duration(age)) ago, pid \(pid))")
        } else {
            lines.append("pgreflex run: not running (no status yet)")
        }
        let slot = capture.slot ?? "-"
        var captureLine = "capture: \(running ? capture.state.rawValue : "stopped")"
        if let reason = capture.reason, running, capture.state != .streaming { captureLine += " (\(reason))" }
        lines.append(captureLine)
        let active = capture.slotActive.map { $0 ? "active, " : "inactive, " } ?? ""
        if capture.slotExists == false {
            lines.append("  slot \(slot): not created (run creates it with source.create_slot: true, or `pgreflex slot create`)")
        } else if capture.slotActive == nil && capture.progress.confirmedLSN == 0 {
            lines.append("  slot \(slot): unknown (no run has reported it, and the database was not asked: set source.dsn_env's variable to ask it)")
        } else {
            lines.append("  slot \(slot): \(active)confirmed \(Self.lsn(capture.progress.confirmedLSN)), retained WAL \(capture.slotRetainedBytes.map(Self.bytes) ?? "-")"
                         + (capture.slotWALStatus.map { ", wal_status \($0)" } ?? ""))
        }
        lines.append("  received \(Self.lsn(capture.progress.receivedLSN)), \(capture.progress.changes) changes in \(capture.progress.transactions) transactions since start; "
                     + "lag \(Self.bytes(Int64(capture.progress.lagBytes))), \(Self.duration(capture.progress.lagSeconds(now: generatedAt)))")
        if !consumers.isEmpty {
            lines.append("journal: \(journalBytes.map(Self.bytes) ?? "-")")
            lines.append(Self.table(consumerRows, indent: "  "))
        }
        if !routes.isEmpty {
            lines.append("routes:")
            lines.append(Self.table(routeRows, indent: "  "))
            lines.append("  (p50, p95, p99: commit to agent start)")
        }
        let letters = deadLetters.values.reduce(0, +)
        lines.append("dead letters: \(letters)" + (letters > 0 ? " (pgreflex dlq list shows them)" : ""))
        return lines.joined(separator: "\n")
    }

    var consumerRows: [[String]] {
        [["consumer", "position", "lag"]] + consumers.map { [$0.name, Self.lsn($0.position), Self.bytes(Int64($0.lagBytes))] }
    }

    /// One row per route, under a header: what the text, the page and the demo show alike.
    var routeRows: [[String]] {
        var rows = [["route", "agent", "read", "filtered", "calls", "ok", "retries", "in_flight", "queued", "dead_letters", "breaker",
                     "p50", "p95", "p99"]]
        for name in routes.keys.sorted() {
            let route = routes[name]!
            let latency = route.commitToAgent.summary
            rows.append([name, route.agent, "\(route.read)", "\(route.filtered)", "\(route.calls)", "\(route.succeeded)", "\(route.retries)",
                         "\(route.inFlight)", "\(route.queued)", "\(deadLetters[name] ?? 0)", route.breaker,
                         latency.p50.map(Self.micros) ?? "-", latency.p95.map(Self.micros) ?? "-", latency.p99.map(Self.micros) ?? "-"])
        }
        return rows
    }

    public static func table(_ rows: [[String]], indent: String) -> String {
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            indent + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    public static func lsn(_ value: UInt64) -> String {
        String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    public static func bytes(_ value: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1024 && unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : "\(Double(Int(amount * 10)) / 10) \(units[unit])"
    }

    public static func micros(_ value: Int64) -> String {
        value < 1000 ? "\(value)µs" : value < 10_000_000 ? "\(Double(value / 100) / 10)ms" : "\(value / 1_000_000)s"
    }

    public static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int(seconds * 1000))ms" }
        if seconds < 120 { return "\(Int(seconds))s" }
        if seconds < 7200 { return "\(Int(seconds / 60))m" }
        return "\(Int(seconds / 3600))h"
    }
}
