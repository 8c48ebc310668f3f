import PGReflexAgentContract
import PGReflexAgents
import PGReflexDispatch
import PGReflexRouter


/// The direct lane: when the agent answers at once and nothing of the route waits (no queued
/// or running call, no hold, no pause), matched events are called straight from `admit`, in
/// commit order, without the per-key queue. A pass takes each key at most once, so a failed
/// call's retry still runs before any later event of its key: the failed event goes to the
/// queue, and while anything waits there the lane stays shut.
///
/// It is the route's cost per event with a fast agent (`noop`, `log`, `file`): no job is
/// queued, scanned and started, and an event's key is spelled out only if its call fails.
extension RouteConsumer {
    struct DirectLane {
        /// A row of a table (its key's hash from the journal): the same row twice in one pass
        /// ends the pass.
        struct Row: Hashable {
            var table: String
            var keyHash: UInt64
        }

        private(set) var events: [RoutedEvent] = []
        private var rows: Set<Row> = []

        /// False when the event's row is already in this pass.
        mutating func add(_ event: RoutedEvent) -> Bool {
            guard rows.insert(Row(table: event.table, keyHash: event.keyHash)).inserted else { return false }
            events.append(event)
            return true
        }
    }

    /// Whether the route has nothing that orders, holds, groups or paces its calls, besides
    /// the per-key order the lane keeps itself.
    var directLaneEligible: Bool {
        settings.key == nil && settings.debounce == nil && settings.batch == nil && settings.window == nil && settings.idempotency == nil
            && settings.rateLimit == nil && settings.shed == nil && settings.throttle == nil && settings.priority == nil
            && settings.concurrency.key == nil && settings.schemaVersions.isEmpty
    }

    func directLaneOpen(now: ContinuousClock.Instant) -> Bool {
        agentAnswersAtOnce && directLaneEligible && queue.queued == 0 && queue.inFlight == 0 && outstanding.isEmpty && heldKeys.isEmpty
            && (disabledUntil.map { now >= $0 } ?? true)
    }

    /// Calls the agent once for the pass's events and records each outcome. With the agent's
    /// breaker not closed (another route's calls may have opened it), the events take the
    /// queue instead, which waits for it and sends its probe.
    func runDirect(_ events: [RoutedEvent], now: ContinuousClock.Instant) throws {
        guard !events.isEmpty else { return }
        guard runtime.isClosed else {
            for var event in events {
                event.key = Self.defaultKey(event)
                enqueue(Job(events: [event], key: event.key, group: nil, priority: 0))
            }
            return
        }
        let wallNow = wallMicros()
        var jobs: [Job] = []
        var calls: [AgentCall] = []
        jobs.reserveCapacity(events.count)
        calls.reserveCapacity(events.count)
        for event in events {
            var job = Job(events: [event], key: "", group: nil, priority: 0)
            calls.append(begin(&job, wallNow: wallNow))
            jobs.append(job)
        }
        counts.peakRunning = max(counts.peakRunning, jobs.count)
        let outcomes = runtime.agent.handleAtOnce(calls)
        precondition(outcomes.count == calls.count, "an agent answers every call it is handed")
        let finished = clock.now
        let micros = UnixTime.micros(now.duration(to: finished)) / Int64(jobs.count)
        for (var job, outcome) in zip(jobs, outcomes) {
            // A failed call's retry waits in the queue under its key.
            if case .failure = outcome { job.key = Self.defaultKey(job.events[0]) }
            try record(job, outcome, micros: micros, now: finished, retrying: true)
        }
    }
}
