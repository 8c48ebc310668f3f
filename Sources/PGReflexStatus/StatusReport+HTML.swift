/// The status page at `/`: the same report, server-rendered, refreshing itself. No scripts and
/// no external assets, so it works behind any proxy and in any browser.
extension StatusReport {
    public func html(now: Int64, refreshSeconds: Int = 2) -> String {
        let ready = capture.state == .streaming
        var body = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <title>pgreflex status</title>
            <style>
            body{font:14px system-ui,sans-serif;margin:2em;color:#222}
            table{border-collapse:collapse;margin:.5em 0 1.5em}
            th,td{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right}
            th:first-child,td:first-child{text-align:left}
            .ok{color:#17702e}.bad{color:#b3261e}
            </style></head><body>
            <h1>pgreflex</h1>
            <p id="capture" class="\(ready ? "ok" : "bad")">capture: \(Self.escape(capture.state.rawValue))\(capture.reason.map { " (" + Self.escape($0) + ")" } ?? "")</p>
            <p id="process">pid \(pid), up \(Self.duration(Double(now - startedAt) / 1e6)); journal \(journalBytes.map(Self.bytes) ?? "-"); \
            \(inFlight) calls in flight, \(queued) queued; \(deadLetters.values.reduce(0, +)) dead letters</p>

            """
        body += Self.htmlTable(id: "slot", [["slot", "confirmed", "received", "retained WAL", "lag", "lag (s)", "changes"],
                                            [capture.slot ?? "-", Self.lsn(capture.progress.confirmedLSN), Self.lsn(capture.progress.receivedLSN),
                                             capture.slotRetainedBytes.map(Self.bytes) ?? "-", Self.bytes(Int64(capture.progress.lagBytes)),
                                             "\(Double(Int(capture.progress.lagSeconds(now: now) * 10)) / 10)", "\(capture.progress.changes)"]])
        if !consumers.isEmpty {
            body += "<h2>Consumers</h2>\n"
            body += Self.htmlTable(id: "consumers", consumerRows)
        }
        body += "<h2>Routes</h2>\n"
        body += Self.htmlTable(id: "routes", routeRows)
        body += "<p>Latencies: commit to agent start. Metrics: <a href=\"/metrics\">/metrics</a>; readiness: <a href=\"/readyz\">/readyz</a>.</p>\n"
        body += "</body></html>\n"
        return body
    }

    static func htmlTable(id: String, _ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        var html = "<table id=\"\(id)\"><thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in rows.dropFirst() {
            html += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n"
        }
        return html + "</tbody></table>\n"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
