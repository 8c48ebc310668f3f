import PGReflexAgents
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexStatus
import PGReflexWire

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
        metrics.publish(&machine.tally, inFlight: machine.calls.outstanding.count, queued: machine.calls.queue.queued)
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
        route.inFlight = machine.calls.outstanding.count
        route.queued = machine.calls.queue.queued
        route.held = machine.stages.heldEvents.count
        route.breaker = runtime.breakerState
        route.position = machine.records.watermark.confirmed?.commitLSN.rawValue
        route.commitToAgent = machine.commitToAgent
        route.callDuration = machine.callDuration
        status.updateRoute(settings.name, route)
    }

    /// When the loop must wake to publish what changed since the last time.
    var publishDeadline: ContinuousClock.Instant? { publishDue ? nextPublish : nil }
}
