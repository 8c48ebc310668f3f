import CoreMetrics
import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexStatus
import PGReflexWire

/// A route's metrics and its entry in the pipeline's status. Events are counted locally and
/// handed to swift-metrics at most every `publishInterval`, so an event costs a dictionary
/// increment. Labels are route, agent, table and operation names, never values from rows.
///
/// A class the route's actor owns alone: as a struct in the actor, every call through it
/// copied it first (a retain and release of each of its metrics, per event).
final class RouteMetrics {
    enum Outcome: String {
        case matched, filtered, skipped, dispatched
    }

    private struct Key: Hashable {
        var table: String
        var op: String
        var outcome: Outcome
    }

    let route: String
    let agent: String
    /// Off without a metrics backend: an event then costs nothing here.
    let enabled: Bool
    private var events = PendingCounters<Key>(label: "pgreflex_route_events_total")
    private let callDuration: Timer
    private let commitToAgent: Timer
    private let retries: Counter
    private let deadLetters: Counter
    private let inFlight: Gauge
    private let queueDepth: Gauge

    init(route: String, agent: String, enabled: Bool) {
        self.route = route
        self.agent = agent
        self.enabled = enabled
        let labels = [("route", route), ("agent", agent)]
        callDuration = Timer(label: "pgreflex_agent_call_duration_seconds", dimensions: labels, preferredDisplayUnit: .seconds)
        commitToAgent = Timer(label: "pgreflex_commit_to_agent_seconds", dimensions: labels, preferredDisplayUnit: .seconds)
        retries = Counter(label: "pgreflex_agent_retries_total", dimensions: labels)
        deadLetters = Counter(label: "pgreflex_dead_letters_total", dimensions: labels)
        inFlight = Gauge(label: "pgreflex_agent_calls_in_flight", dimensions: labels)
        queueDepth = Gauge(label: "pgreflex_route_queue_depth", dimensions: [("route", route)])
    }

    func count(table: String, op: String, _ outcome: Outcome, by amount: Int = 1) {
        guard enabled else { return }
        events.add(Key(table: table, op: op, outcome: outcome), amount)
    }

    func callStarted(commitToAgentMicros: Int64?) {
        guard enabled else { return }
        if let micros = commitToAgentMicros { commitToAgent.recordMicroseconds(max(0, micros)) }
    }

    func callFinished(micros: Int64) {
        guard enabled else { return }
        callDuration.recordMicroseconds(micros)
    }

    func retried() { if enabled { retries.increment() } }

    func deadLettered(_ events: Int) { if enabled { deadLetters.increment(by: events) } }

    func publish(inFlight running: Int, queued: Int) {
        guard enabled else { return }
        let route = self.route
        events.flush { [("route", route), ("table", $0.table), ("op", $0.op), ("outcome", $0.outcome.rawValue)] }
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
        metrics.publish(inFlight: outstanding.count, queued: queue.queued)
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
        route.inFlight = outstanding.count
        route.queued = queue.queued
        route.held = heldEvents.count
        route.breaker = runtime.breakerState
        route.position = watermark.confirmed?.commitLSN.rawValue
        route.commitToAgent = commitToAgent
        route.callDuration = callDuration
        status.updateRoute(settings.name, route)
    }

    /// When the loop must wake to publish what changed since the last time.
    var publishDeadline: ContinuousClock.Instant? { publishDue ? nextPublish : nil }

    /// One line per finished call, as operators grep for them.
    func logCall(_ job: Job, outcome: String, micros: Int64, error: AgentError? = nil) {
        // Formatting the metadata costs more than a fast agent's call: only when it is logged.
        guard logger.logLevel <= .info else { return }
        var metadata: Logger.Metadata = [
            "event.id": "\(job.events[0].id)", "lsn": "\(job.events[0].position?.commitLSN.description ?? "-")",
            "attempt": "\(job.attempt)", "outcome": "\(outcome)", "duration_ms": "\(Double(micros / 100) / 10)",
        ]
        if job.events.count > 1 { metadata["events"] = "\(job.events.count)" }
        if let error { metadata["error.code"] = "\(error.code.rawValue)" }
        logger.info("agent call", metadata: metadata)
    }
}
