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
        guard admission != nil else { return takeOutput() }
        let now = admission!.now
        for key in found { stages.idempotencyRun[String(key.eventID.dropFirst(Self.idempotencyRecord("").count))] = now }
        admission!.done = done
        admission!.lane = directLaneOpen(now: now) ? DirectLanePass() : nil
        try continueAdmission(breaker: breaker)
        return takeOutput()
    }

    /// Goes on with the batch until it is admitted, or a direct-lane pass is handed over
    /// (``answered(_:_:micros:now:wallNow:breaker:)`` then goes on).
    mutating func continueAdmission(breaker: some RouteBreakerView<Instant>) throws {
        while admission != nil {
            let now = admission!.now
            let wallNow = admission!.wallNow
            if admission!.reopenLane {
                admission!.reopenLane = false
                admission!.lane = directLaneOpen(now: now) ? DirectLanePass() : nil
            }
            let index = admission!.next
            guard index < admission!.events.count else {
                let lane = admission!.lane
                admission = nil
                if let lane { _ = try runDirect(lane.events, now: now, wallNow: wallNow, breaker: breaker) }
                return
            }
            let (event, values) = admission!.events[index]
            if admission!.checked {
                admission!.checked = false
            } else {
                pendingEvents += 1
                if try handledBeforeTheLane(event, wallNow: wallNow) {
                    admission!.next += 1
                    continue
                }
            }
            if admission!.lane != nil {
                // Nothing waits in the queue: the event is called with the others of this pass,
                // and needs its key's text only if its call fails.
                if admission!.lane!.add(event) {
                    admission!.next += 1
                    continue
                }
                // Its row already in the pass, or the pass full: the pass runs first, then the
                // event is looked at again (a failure in the pass shuts the lane).
                let pass = admission!.lane!.events
                admission!.lane = nil
                admission!.checked = true
                admission!.reopenLane = true
                if try runDirect(pass, now: now, wallNow: wallNow, breaker: breaker) { return }
                continue
            }
            admission!.next += 1
            try stage(event, values, now: now, wallNow: wallNow)
        }
    }

    /// Duplicates and agents' changes: done with before anything else, the lane included.
    mutating func handledBeforeTheLane(_ event: RoutedEvent, wallNow: Int64) throws -> Bool {
        if admission!.done.contains(event.id) || receipted.contains(event.id) {
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
    mutating func stage(_ event: RoutedEvent, _ values: CELActivation?, now: Instant, wallNow: Int64) throws {
        var event = event
        event.key = settings.key.flatMap { RouteValues.keyValue($0, values) } ?? event.defaultKey
        if let throttleKey = settings.throttle?.key { event.throttleKey = RouteValues.keyValue(throttleKey, values) ?? "" }
        var outcomes: [RouteStages<Instant>.Outcome] = []
        stages.stage(event, values, idempotencyKey: admission!.idempotencyValues[event.id], now: now, wallNow: wallNow, into: &outcomes)
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
            case .superseded(let event):
                counts.superseded += 1
                recordHandled(event)
                try finish(event)
            case .leftWindow(let event): leaveWindow(event)
            case .keptInWindow(let entry, let position):
                records.pending.windowAdded.append(entry)
                try records.complete(position)
            case .storedFired(let entries): records.pending.windowAdded += entries
            case .duplicate(let event): try finish(event)
            case .held(_, let notice):
                counts.held += 1
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
