import Foundation

/// The status page at `/`: the same report, server-rendered, refreshing itself. No scripts and
/// no external assets, so it works behind any proxy and in any browser.
extension StatusReport {
    public func html(now: Int64, refreshSeconds: Int = 2) -> String {
        let ready = capture.state == .streaming
        var body = Self.htmlHead(title: "pgreflex status", refreshSeconds: refreshSeconds) + """
            <h1>pgreflex</h1>
            \(Self.searchForm(""))
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
        // Each route links to its latest calls and dead letters.
        body += Self.htmlTable(id: "routes", routeRows) { row, column in
            column == 0 && row > 0 ? "/route/" + Self.percentEncoded(routeRows[row][0]) : nil
        }
        body += "<p>Latencies: commit to agent start. Metrics: <a href=\"/metrics\">/metrics</a>; readiness: <a href=\"/readyz\">/readyz</a>.</p>\n"
        body += "</body></html>\n"
        return body
    }

    /// The page's head: no script, no external asset. `refreshSeconds`: the page reloads itself.
    static func htmlHead(title: String, refreshSeconds: Int? = nil) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        \(refreshSeconds.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">\n" } ?? "")<title>\(escape(title))</title>
        <style>
        body{font:14px system-ui,sans-serif;margin:2em;color:#222}
        table{border-collapse:collapse;margin:.5em 0 1.5em}
        th,td{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:right}
        th:first-child,td:first-child{text-align:left}
        pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.5em}
        .ok{color:#17702e}.bad{color:#b3261e}
        </style></head><body>

        """
    }

    /// The search box: an event id, or `schema.table:key`. A plain GET form, no script.
    static func searchForm(_ query: String) -> String {
        """
        <form id="search" action="/change" method="get"><input name="q" size="40" value="\(escape(query))" \
        placeholder="event id, or schema.table:key"> <button type="submit">Find the change</button></form>
        """
    }

    /// A table; `link` gives a cell's address (row 0 is the header), or nil for plain text.
    static func htmlTable(id: String, _ rows: [[String]], link: (_ row: Int, _ column: Int) -> String? = { _, _ in nil }) -> String {
        guard let header = rows.first else { return "" }
        var html = "<table id=\"\(id)\"><thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for (index, row) in rows.enumerated().dropFirst() {
            html += "<tr>" + row.enumerated().map { column, cell in
                guard let href = link(index, column) else { return "<td>\(escape(cell))</td>" }
                return "<td><a href=\"\(escape(href))\">\(escape(cell))</a></td>"
            }.joined() + "</tr>\n"
        }
        return html + "</tbody></table>\n"
    }

    /// Text for a URL's path or query: everything but RFC 3986's unreserved characters percent-encoded.
    public static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

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
