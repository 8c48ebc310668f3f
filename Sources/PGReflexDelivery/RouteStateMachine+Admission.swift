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
        for key in found { idempotencyRun[String(key.eventID.dropFirst(Self.idempotencyRecord("").count))] = now }
        admission!.done = done
        admission!.lane = directLaneOpen(now: now) ? DirectLane() : nil
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
                admission!.lane = directLaneOpen(now: now) ? DirectLane() : nil
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

    /// The stages after the lane: pins, holds, idempotency, the rate limit, shedding, then
    /// debounce, batch, window or the queue.
    mutating func stage(_ event: RoutedEvent, _ values: CELActivation?, now: Instant, wallNow: Int64) throws {
        var event = event
        let position = event.position!
        event.key = settings.key.flatMap { RouteValues.keyValue($0, values) } ?? event.defaultKey
        if let throttleKey = settings.throttle?.key { event.throttleKey = RouteValues.keyValue(throttleKey, values) ?? "" }
        if let pins = settings.schemaVersions[event.table], let version = event.schemaVersion, !pins.contains(version) {
            hold(event, version: version)
            return
        }
        if heldKeys.contains(event.key) {
            heldEvents.append(event)
            counts.held += 1
            return
        }
        let idempotencyKey = admission!.idempotencyValues[event.id]
        if let value = idempotencyKey {
            if let last = idempotencyRun[value], last.duration(to: now) < settings.idempotency!.period {
                skip(event, .idempotency, at: wallNow)
                try finish(event)
                return
            }
            idempotencyRun[value] = now
        }
        if let rate = settings.rateLimit {
            let key = rate.key.flatMap { RouteValues.keyValue($0, values) } ?? ""
            if rateLimit!.take(key, now: now) != nil {
                skip(event, .rateLimit, at: wallNow)
                try finish(event)
                return
            }
        }
        if let shed = settings.shed, event.commitTime > 0, wallNow - event.commitTime > UnixTime.micros(shed.lagOver), shed.action == .skip {
            skip(event, .shed, at: wallNow)
            try finish(event)
            return
        }
        let group = settings.concurrency.key.flatMap { RouteValues.keyValue($0, values) }
        let priority = settings.priority.map { RouteValues.priorityValue($0, values) } ?? 0
        if let settingsWindow = settings.window {
            let key = settingsWindow.key.flatMap { RouteValues.keyValue($0, values) } ?? event.key
            try addToWindow(event, at: position, key: key, group: group, priority: priority, idempotencyKey: idempotencyKey)
        } else if let settingsDebounce = settings.debounce {
            let key = settingsDebounce.key.flatMap { RouteValues.keyValue($0, values) } ?? event.key
            for case .superseded(let replaced) in debounce!.received(event, key: key, now: now) {
                counts.superseded += 1
                recordHandled(replaced)
                try finish(replaced)
            }
        } else if let settingsBatch = settings.batch {
            let key = settingsBatch.key.flatMap { RouteValues.keyValue($0, values) } ?? ""
            if let full = batcher!.add(event, key: key, now: now) {
                enqueue(Job(events: full, key: "batch:" + key, group: nil, priority: priority))
            }
        } else {
            enqueue(Job(events: [event], key: event.key, group: group, priority: priority, idempotencyKey: idempotencyKey))
        }
    }

    /// A windowed event's place in the journal is handled once the store has it: the window
    /// keeps it without one.
    mutating func addToWindow(_ event: RoutedEvent, at position: EventPosition, key: String, group: String?, priority: Int,
                              idempotencyKey: String?) throws {
        if let earlier = firedWindows.removeValue(forKey: event.id) {
            // It fired this window before a restart, and the call did not finish: the same call again.
            enqueue(Job(events: earlier + [event], key: key, group: group, priority: priority, idempotencyKey: idempotencyKey, fromWindow: true))
            return
        }
        if window!.contains(key: key, where: { $0.id == event.id })
            || firedWindows.values.contains(where: { $0.contains { $0.id == event.id } }) {
            // Read again after a restart: a stored window (open, or fired and not yet
            // finished) has it already.
            try finish(event)
            return
        }
        var windowed = event
        windowed.position = nil
        let (fired, expired) = window!.add(windowed, key: key, at: UnixTime(microseconds: event.commitTime))
        for old in expired { leaveWindow(old) }
        if var fired {
            // The firing event is still after the cursor; the others are in the store until
            // the call is done, filed under the firing event: a restart before then fires the
            // same call when it reads that event again, and does not take them for the key's
            // open window.
            for earlier in fired.dropLast() {
                pending.windowAdded.append(WindowEntry(route: settings.name, key: Self.storedKey(firedBy: event.id), eventID: earlier.id,
                                                       table: earlier.table, op: earlier.op, at: earlier.commitTime, envelope: earlier.envelope))
            }
            fired[fired.count - 1].position = position
            enqueue(Job(events: fired, key: key, group: group, priority: priority, idempotencyKey: idempotencyKey, fromWindow: true))
        } else {
            pending.windowAdded.append(WindowEntry(route: settings.name, key: key, eventID: event.id, table: event.table, op: event.op,
                                                   at: event.commitTime, envelope: event.envelope))
            // Kept in the store from now on: the cursor may pass it.
            try complete(position)
        }
    }

    mutating func hold(_ event: RoutedEvent, version: Int) {
        heldKeys.insert(event.key)
        heldEvents.append(event)
        counts.held += 1
        if heldAlerted.insert("\(event.table)@\(version)").inserted {
            notice(.held(table: event.table, version: version, pinned: settings.schemaVersions[event.table]!.sorted(), from: event.position))
        }
    }

    mutating func skip(_ event: RoutedEvent, _ reason: Skip.Reason, at: Int64) {
        counts.skipped[reason, default: 0] += 1
        tally.count(table: event.table, op: event.op, .skipped)
        pending.skips.append(Skip(eventID: event.id, route: settings.name, table: event.table, reason: reason, at: at))
        let total = counts.skipped[reason]!
        if total == 1 || total.isMultiple(of: 1000) { notice(.skipped(reason, total: total)) }
    }

    /// An event fell out of its window without completing it: handled.
    mutating func leaveWindow(_ event: RoutedEvent) {
        pending.windowRemoved.append((settings.name, event.id))
        recordHandled(event)
        pendingEvents -= 1
    }

    /// An outcome without a call (superseded in a debounce, out of its window, dead-lettered)
    /// gets a done record in the same commit as the rest of it: an event read again after a
    /// restart is then a duplicate, not a new event that the state would take in a second time
    /// (a stale debounced call after the newer one, a window counting one order twice).
    mutating func recordHandled(_ event: RoutedEvent) {
        pending.done.append(DoneKey(eventID: event.id, route: settings.name, agent: agentName))
    }

    mutating func enqueue(_ job: Job) {
        queue.enqueue(job, key: job.key, group: job.group, priority: job.priority)
    }
}
