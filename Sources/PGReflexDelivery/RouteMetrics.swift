import CoreMetrics
import PGReflexStatus

/// A route's metrics: what its tally holds, handed to swift-metrics at most every
/// `publishInterval`. Labels are route, agent, table and operation names, never values from rows.
struct RouteMetrics {
    let route: String
    private let callDuration: Timer
    private let commitToAgent: Timer
    private let retries: Counter
    private let deadLetters: Counter
    private let inFlight: Gauge
    private let queueDepth: Gauge

    init(route: String, agent: String) {
        self.route = route
        let labels = [("route", route), ("agent", agent)]
        callDuration = Timer(label: "pgreflex_agent_call_duration_seconds", dimensions: labels, preferredDisplayUnit: .seconds)
        commitToAgent = Timer(label: "pgreflex_commit_to_agent_seconds", dimensions: labels, preferredDisplayUnit: .seconds)
        retries = Counter(label: "pgreflex_agent_retries_total", dimensions: labels)
        deadLetters = Counter(label: "pgreflex_dead_letters_total", dimensions: labels)
        inFlight = Gauge(label: "pgreflex_agent_calls_in_flight", dimensions: labels)
        queueDepth = Gauge(label: "pgreflex_route_queue_depth", dimensions: [("route", route)])
    }

    /// Empties the tally into the metrics.
    func publish(_ tally: inout RouteTally, inFlight running: Int, queued: Int) {
        guard tally.enabled else { return }
        let route = self.route
        tally.events!.flush { [("route", route), ("table", $0.table), ("op", $0.op), ("outcome", $0.outcome.rawValue)] }
        for micros in tally.commitToAgentMicros { commitToAgent.recordMicroseconds(micros) }
        for micros in tally.callMicros { callDuration.recordMicroseconds(micros) }
        if tally.retries > 0 { retries.increment(by: tally.retries) }
        if tally.deadLetters > 0 { deadLetters.increment(by: tally.deadLetters) }
        tally.commitToAgentMicros.removeAll(keepingCapacity: true)
        tally.callMicros.removeAll(keepingCapacity: true)
        tally.retries = 0
        tally.deadLetters = 0
        inFlight.record(running)
        queueDepth.record(queued)
    }
}
