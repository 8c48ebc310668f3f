import PGReflexAgentContract
import PGReflexDispatch
import PGReflexRouter

/// The direct lane: when the agent answers at once and nothing of the route waits (no queued
/// or running call, no hold, no pause), matched events are called straight from admission, in
/// commit order, without the per-key queue. A pass takes each row at most once, so a failed
/// call's retry still runs before any later change of its row: the failed event goes to the
/// queue, and while anything waits there the lane stays shut.
///
/// It is the route's cost per event with a fast agent (`noop`, `log`, `file`): no job is
/// queued, scanned and started, and an event's key is spelled out only if its call fails.
extension RouteStateMachine {
    /// Whether the route has nothing that orders, holds, groups or paces its calls, besides
    /// the per-key order the lane keeps itself.
    var directLaneEligible: Bool {
        settings.key == nil && settings.debounce == nil && settings.batch == nil && settings.window == nil && settings.idempotency == nil
            && settings.rateLimit == nil && settings.shed == nil && settings.throttle == nil && settings.priority == nil
            && settings.concurrency.key == nil && settings.schemaVersions.isEmpty
    }

    func directLaneOpen(now: Instant) -> Bool {
        answersAtOnce && directLaneEligible && stages.heldKeys.isEmpty && calls.isQuiet(now: now)
    }

    /// Hands the pass's events to the agent at once (true), or, with the agent's breaker not
    /// closed (another route's calls may have opened it), puts them in the queue, which waits
    /// for it and sends its probe (false).
    mutating func runDirect(_ events: [RoutedEvent], now: Instant, wallNow: Int64, breaker: some RouteBreakerView<Instant>) throws -> Bool {
        guard !events.isEmpty else { return false }
        guard breaker.isClosed else {
            for var event in events {
                event.key = event.defaultKey
                calls.enqueue(Job(events: [event], key: event.key, group: nil, priority: 0))
            }
            return false
        }
        var calls = Calls(capacity: events.count)
        for event in events {
            var job = Job(events: [event], key: "", group: nil, priority: 0, direct: true)
            calls.calls.append(begin(&job, wallNow: wallNow))
            calls.jobs.append(job)
        }
        counts.peakRunning = max(counts.peakRunning, calls.jobs.count)
        output.append(.answerNow(calls))
        return true
    }

    /// The outcomes of calls handed over with ``Action/answerNow(_:)``, in order; `micros` is
    /// each call's share of the time they took. An admission the pass interrupted goes on.
    mutating func answered(_ calls: Calls, _ outcomes: [AgentOutcome], micros: Int64, now: Instant, wallNow: Int64,
                           breaker: some RouteBreakerView<Instant>) throws -> [Action] {
        precondition(outcomes.count == calls.jobs.count, "an agent answers every call it is handed")
        for (job, outcome) in zip(calls.jobs, outcomes) {
            var job = job
            // A failed call's retry waits in the queue under its row's key.
            if job.direct, case .failure = outcome { job.key = job.events[0].defaultKey }
            try record(job, outcome, micros: micros, now: now, wallNow: wallNow, retrying: true, breaker: breaker)
        }
        if admission != nil { try continueAdmission(breaker: breaker) }
        return takeOutput()
    }
}
