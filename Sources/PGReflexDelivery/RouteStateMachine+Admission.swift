import PGReflexAgentContract
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState

/// Admission: matched events through the route's stages, in commit order: duplicates, the loop
/// guard, the direct lane, schema pins, idempotency, the rate limit, shedding, then debounce,
/// batch or window, then the per-key queue.
extension RouteStateMachine {
    /// Admits the events ``prepare(_:now:wallNow:)`` took, with the store's answers: the done
    /// records found among them, and the idempotency keys' records found.
    mutating func admit(done: Set<String>, idempotencyRun found: Set<DoneKey>, breaker: some RouteBreakerView<Instant>) throws -> [Action] {
        guard var batch = admission.take() else { return takeOutput() }
        for key in found { stages.idempotencyRun[String(key.eventID.dropFirst(Self.idempotencyRecord("").count))] = batch.now }
        batch.done = done
        batch.lane = directLaneOpen(now: batch.now) ? DirectLanePass() : nil
        admission = batch
        try continueAdmission(breaker: breaker)
        return takeOutput()
    }

    /// Goes on with the batch until it is admitted, or a direct-lane pass is handed over
    /// (``answered(_:_:micros:now:wallNow:breaker:)`` then goes on). The batch is taken out of
    /// ``admission`` while it is worked on (each read of an optional's field would copy it
    /// whole), and put back only when a pass interrupts it.
    mutating func continueAdmission(breaker: some RouteBreakerView<Instant>) throws {
        guard var batch = admission.take() else { return }
        let now = batch.now
        let wallNow = batch.wallNow
        while true {
            if batch.reopenLane {
                batch.reopenLane = false
                batch.lane = directLaneOpen(now: now) ? DirectLanePass() : nil
            }
            let index = batch.next
            guard index < batch.events.count else {
                if let lane = batch.lane { _ = try runDirect(lane.events, now: now, wallNow: wallNow, breaker: breaker) }
                return
            }
            let event = batch.events[index].event
            if batch.checked {
                batch.checked = false
            } else {
                pendingEvents += 1
                if try handledBeforeTheLane(event, done: batch.done, wallNow: wallNow) {
                    batch.next += 1
                    continue
                }
            }
            if batch.lane != nil {
                // Nothing waits in the queue: the event is called with the others of this pass,
                // and needs its key's text only if its call fails.
                if batch.lane!.add(event) {
                    batch.next += 1
                    continue
                }
                // Its row already in the pass, or the pass full: the pass runs first, then the
                // event is looked at again (a failure in the pass shuts the lane).
                let pass = batch.lane!.events
                batch.lane = nil
                batch.checked = true
                batch.reopenLane = true
                if try runDirect(pass, now: now, wallNow: wallNow, breaker: breaker) {
                    admission = batch
                    return
                }
                continue
            }
            batch.next += 1
            try stage(event, batch.events[index].values, idempotencyKey: batch.idempotencyValues[event.id], now: now, wallNow: wallNow)
        }
    }

    /// Duplicates and agents' changes: done with before anything else, the lane included.
    mutating func handledBeforeTheLane(_ event: RoutedEvent, done: Set<String>, wallNow: Int64) throws -> Bool {
        if done.contains(event.id) || receipted.contains(event.id) {
            counts.duplicates += 1
            try finish(event)
            return true
        }
        guard let cause = event.cause else { return false }
        let own = settings.agentChanges == .others && cause.agent == agentName
        if cause.depth >= AgentCausation.maxDepth && settings.agentChanges != .skip && !own {
            // The chain's end: skipped, not dead-lettered (there is nothing to retry), and
            // recorded where someone will look: a skip with its reason, and an error in the log.
            notice(.loopGuard(eventID: event.id, table: event.table, cause: cause))
            skip(event, .loopGuard, at: wallNow)
            try finish(event)
            return true
        }
        if settings.agentChanges == .skip || own {
            skip(event, .agentChange, at: wallNow)
            try finish(event)
            return true
        }
        return false
    }

    /// The event's keys, then the stages after the lane (``RouteStages``).
    mutating func stage(_ event: RoutedEvent, _ values: CELActivation?, idempotencyKey: String?, now: Instant, wallNow: Int64) throws {
        var event = event
        event.key = settings.key.flatMap { RouteValues.keyValue($0, values) } ?? event.defaultKey
        if let throttleKey = settings.throttle?.key { event.throttleKey = RouteValues.keyValue(throttleKey, values) ?? "" }
        var outcomes: [RouteStages<Instant>.Outcome] = []
        stages.stage(event, values, idempotencyKey: idempotencyKey, now: now, wallNow: wallNow, into: &outcomes)
        try apply(outcomes, wallNow: wallNow)
    }

    /// Records what the stages did.
    mutating func apply(_ outcomes: [RouteStages<Instant>.Outcome], wallNow: Int64) throws {
        for outcome in outcomes {
            switch outcome {
            case .call(let job): calls.enqueue(job)
            case .skipped(let event, let reason):
                skip(event, reason, at: wallNow)
                try finish(event)
            case .superseded(let event, let newer):
                counts.superseded += 1
                trace(.debounced, event, at: wallNow, detail: newer)
                recordHandled(event)
                try finish(event)
            case .leftWindow(let event):
                trace(.leftWindow, event, at: wallNow)
                leaveWindow(event)
            case .keptInWindow(let entry, let position):
                records.pending.traces.append(RouteTrace(route: settings.name, kind: .window, events: [entry.eventID], at: wallNow, detail: entry.key))
                records.pending.windowAdded.append(entry)
                try records.complete(position)
            case .storedFired(let entries): records.pending.windowAdded += entries
            case .duplicate(let event): try finish(event)
            case .held(let event, let notice):
                counts.held += 1
                trace(.held, event, at: wallNow, detail: event.schemaVersion.map(String.init) ?? "")
                if let notice { self.notice(notice) }
            }
        }
    }

    mutating func skip(_ event: RoutedEvent, _ reason: Skip.Reason, at: Int64) {
        counts.skipped[reason, default: 0] += 1
        tally.count(table: event.table, op: event.op, .skipped)
        records.skip(event, reason, at: at)
        let total = counts.skipped[reason]!
        if total == 1 || total.isMultiple(of: 1000) { notice(.skipped(reason, total: total)) }
    }

    /// A flow-control step for `event show`.
    mutating func trace(_ kind: RouteTrace.Kind, _ event: RoutedEvent, at: Int64, detail: String = "") {
        records.pending.traces.append(RouteTrace(route: settings.name, kind: kind, events: [event.id], at: at, readAt: event.readAt, detail: detail))
    }

    /// An event fell out of its window without completing it: handled.
    mutating func leaveWindow(_ event: RoutedEvent) {
        records.pending.windowRemoved.append((settings.name, event.id))
        recordHandled(event)
        pendingEvents -= 1
    }

    /// An outcome without a call (superseded in a debounce, out of its window, dead-lettered)
    /// gets a done record in the same commit as the rest of it: an event read again after a
    /// restart is then a duplicate, not a new event that the state would take in a second time
    /// (a stale debounced call after the newer one, a window counting one order twice).
    mutating func recordHandled(_ event: RoutedEvent) {
        records.done(event.id)
    }

}
