import CoreMetrics
import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexStatus
import PGReflexWire

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

extension RouteConsumer {
    static let publishInterval = Duration.milliseconds(250)

    /// The route's counts, latencies, calls in flight and breaker, into the status and metrics.
    func publish(now: ContinuousClock.Instant, force: Bool = false) {
        guard force || now >= nextPublish else {
            publishDue = true
            return
        }
        publishDue = false
        nextPublish = now.advanced(by: Self.publishInterval)
        metrics.publish(&machine.tally, inFlight: machine.outstanding.count, queued: machine.queue.queued)
        let counts = machine.counts
        var route = RouteStatus(agent: runtime.name)
        route.read = counts.read
        route.filtered = counts.filtered
        route.matched = counts.matched
        route.skipped = counts.skipped.values.reduce(0, +)
        route.calls = counts.calls
        route.succeeded = counts.succeeded
        route.retries = counts.retries
        route.deadLettered = counts.deadLettered
        route.duplicates = counts.duplicates
        route.inFlight = machine.outstanding.count
        route.queued = machine.queue.queued
        route.held = machine.heldEvents.count
        route.breaker = runtime.breakerState
        route.position = machine.watermark.confirmed?.commitLSN.rawValue
        route.commitToAgent = machine.commitToAgent
        route.callDuration = machine.callDuration
        status.updateRoute(settings.name, route)
    }

    /// When the loop must wake to publish what changed since the last time.
    var publishDeadline: ContinuousClock.Instant? { publishDue ? nextPublish : nil }
}
