/// A route's latest calls and dead letters (`/route/NAME`), each linking to its change's page.
public struct RouteActivity: Sendable, Equatable {
    public struct Call: Sendable, Equatable {
        public var events: [String]
        public var attempt: ChangeTrace.Attempt

        public init(events: [String], attempt: ChangeTrace.Attempt) {
            self.events = events
            self.attempt = attempt
        }
    }

    public struct Letter: Sendable, Equatable {
        public var eventID: String
        public var letter: ChangeTrace.DeadLetterReference
        /// Unix microseconds.
        public var lastAttempt: Int64

        public init(eventID: String, letter: ChangeTrace.DeadLetterReference, lastAttempt: Int64) {
            self.eventID = eventID
            self.letter = letter
            self.lastAttempt = lastAttempt
        }
    }

    public var route: String
    /// Newest first.
    public var calls: [Call]
    public var deadLetters: [Letter]

    public init(route: String, calls: [Call], deadLetters: [Letter]) {
        self.route = route
        self.calls = calls
        self.deadLetters = deadLetters
    }

    public var html: String {
        var body = StatusReport.htmlHead(title: "pgreflex: route \(route)") + """
            <p><a href="/">status</a></p>
            \(StatusReport.searchForm(""))
            <h1>Route \(StatusReport.escape(route))</h1>
            <h2>Latest calls</h2>

            """
        let calls = [["event", "events", "attempt", "started", "duration", "outcome", "error"]] + self.calls.map {
            [$0.events.first ?? "-", "\($0.events.count)", "\($0.attempt.number)", ChangeTrace.time($0.attempt.startedAt) ?? "-",
             ChangeTrace.ms(Double($0.attempt.micros) / 1000), $0.attempt.outcome, $0.attempt.error ?? ""]
        }
        body += StatusReport.htmlTable(id: "calls", calls) { row, column in
            column == 0 && row > 0 ? "/change?q=" + StatusReport.percentEncoded(calls[row][0]) : nil
        }
        body += "<h2>Dead letters</h2>\n"
        let letters = [["id", "event", "class", "attempts", "last attempt", "message"]] + deadLetters.map {
            ["\($0.letter.id)", $0.eventID, $0.letter.errorClass, "\($0.letter.attempts)", ChangeTrace.time($0.lastAttempt) ?? "-", $0.letter.message]
        }
        body += StatusReport.htmlTable(id: "dead-letters", letters) { row, column in
            column == 1 && row > 0 ? "/change?q=" + StatusReport.percentEncoded(letters[row][1]) : nil
        }
        return body + "</body></html>\n"
    }
}
