import PGReflexStatus

/// What a route's state machine counted that the metrics have not been told yet: events by
/// table, operation and outcome, calls' latencies, retries and dead letters. Off without a
/// metrics backend: an event then costs nothing here.
struct RouteTally {
    enum Outcome: String {
        case matched, filtered, skipped, dispatched
    }

    struct Key: Hashable {
        var table: String
        var op: String
        var outcome: Outcome
    }

    let enabled: Bool
    var events: PendingCounters<Key>?
    var commitToAgentMicros: [Int64] = []
    var callMicros: [Int64] = []
    var retries = 0
    var deadLetters = 0

    init(enabled: Bool) {
        self.enabled = enabled
        events = enabled ? PendingCounters(label: "pgreflex_route_events_total") : nil
    }

    mutating func count(table: String, op: String, _ outcome: Outcome) {
        guard enabled else { return }
        events!.add(Key(table: table, op: op, outcome: outcome))
    }

    mutating func callStarted(commitToAgentMicros micros: Int64) {
        if enabled { commitToAgentMicros.append(max(0, micros)) }
    }

    mutating func callFinished(micros: Int64) {
        if enabled { callMicros.append(micros) }
    }
}
