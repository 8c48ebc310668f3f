import Foundation

/// The status page's page per change (`/change?q=…`): what `event show` says, server-rendered,
/// with no script and no external asset. Every value is escaped; the envelope is the journal's,
/// after privacy.
extension ChangeTrace {
    /// The changes a search found (newest first), or what to try when it found none.
    public static func htmlPage(_ traces: [ChangeTrace], query: String, problem: String? = nil) -> String {
        var body = StatusReport.htmlHead(title: "pgreflex: \(query)") + """
            <p><a href="/">status</a></p>
            \(StatusReport.searchForm(query))

            """
        if let problem {
            body += "<p id=\"problem\" class=\"bad\">\(StatusReport.escape(problem))</p>\n"
        } else if traces.isEmpty {
            body += "<p id=\"problem\" class=\"bad\">The journal holds no change for \(StatusReport.escape(query)): retention may have removed it.</p>\n"
        }
        for trace in traces { body += trace.htmlSection }
        return body + "</body></html>\n"
    }

    var htmlSection: String {
        var html = "<section class=\"change\" id=\"change-\(StatusReport.escape(id))\">\n"
        html += "<h2>Change <a href=\"/change?q=\(StatusReport.percentEncoded(id))\">\(StatusReport.escape(id))</a>: "
            + "\(StatusReport.escape(table.isEmpty ? "(message)" : table)) \(StatusReport.escape(op))</h2>\n"
        html += StatusReport.htmlTable(id: "journal", [
            ["segment", "offset", "LSN", "xid", "schema version", "key", "committed", "journaled", "commit → journaled"],
            [place.segment, "\(place.offset)", "\(StatusReport.lsn(place.commitLSN)) #\(place.ordinal)", "\(place.xid)",
             place.schemaVersion.map(String.init) ?? "-", key ?? "-", Self.time(place.commitTime) ?? "-", Self.time(place.journaledAt) ?? "-",
             Self.milliseconds(from: place.commitTime, to: place.journaledAt).map(Self.ms) ?? "-"],
        ])
        html += "<h3>Envelope</h3>\n<pre class=\"envelope\">\(StatusReport.escape(String(decoding: envelope, as: UTF8.self).trimmingCharacters(in: .newlines)))</pre>\n"
        for route in routes { html += route.htmlSection(journaledAt: place.journaledAt) }
        return html + "</section>\n"
    }
}

extension ChangeTrace.Route {
    func htmlSection(journaledAt: Int64) -> String {
        let verdict: String
        switch matches {
        case true?: verdict = "matches" + (condition.map { " (if: \($0))" } ?? "")
        case false?: verdict = "filtered: \(reason)" + (condition.map { " (if: \($0))" } ?? "")
        case nil: verdict = "- (not in this configuration)"
        }
        var html = "<div class=\"route\" id=\"route-\(StatusReport.escape(name))\">\n"
        html += "<h3>Route <a href=\"/route/\(StatusReport.percentEncoded(name))\">\(StatusReport.escape(name))</a> "
            + "(agent \(StatusReport.escape(agent))): <span class=\"state\">\(StatusReport.escape(state))</span></h3>\n"
        html += "<p class=\"verdict\">verdict: \(StatusReport.escape(verdict))</p>\n"
        if !steps.isEmpty {
            html += StatusReport.htmlTable(id: "steps-\(name)", [["step", "detail", "at"]]
                + steps.map { [$0.kind, $0.detail, ChangeTrace.time($0.at) ?? "-"] })
        }
        for call in calls {
            html += "<p class=\"call\">call <code>\(StatusReport.escape(call.idempotencyKey))</code>"
                + (call.events.count > 1 ? " with \(call.events.count) events: " + call.events.map { event in
                    "<a href=\"/change?q=\(StatusReport.percentEncoded(event))\">\(StatusReport.escape(event))</a>"
                }.joined(separator: ", ") : "") + "</p>\n"
            html += StatusReport.htmlTable(id: "attempts-\(name)", [["attempt", "started", "duration", "outcome", "error"]] + call.attempts.map {
                ["\($0.number)", ChangeTrace.time($0.startedAt) ?? "-", ChangeTrace.ms(Double($0.micros) / 1000), $0.outcome, $0.error ?? ""]
            })
            if let decision = call.decision { html += "<pre class=\"decision\">\(StatusReport.escape(decision))</pre>\n" }
            if !call.actions.isEmpty {
                html += StatusReport.htmlTable(id: "actions-\(name)", [["action", "tool", "idempotency key", "receipt", "result"]]
                    + call.actions.map { ["\($0.index)", $0.tool, $0.idempotencyKey, $0.status, $0.result ?? ""] })
            }
        }
        if let letter = deadLetter {
            html += "<p class=\"dead-letter bad\">dead letter \(letter.id) (\(StatusReport.escape(letter.errorClass)), \(letter.attempts) attempts): "
                + "\(StatusReport.escape(letter.message))</p>\n"
        }
        let stages = [("journaled → read", ChangeTrace.milliseconds(from: journaledAt, to: readAt)),
                      ("read → call start", ChangeTrace.milliseconds(from: readAt, to: callStartedAt)),
                      ("call start → outcome", ChangeTrace.milliseconds(from: callStartedAt, to: outcomeAt))]
        if stages.contains(where: { $0.1 != nil }) {
            html += StatusReport.htmlTable(id: "stages-\(name)", [stages.map(\.0), stages.map { $0.1.map(ChangeTrace.ms) ?? "-" }])
        }
        return html + "</div>\n"
    }
}
