import Foundation
import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexWire

/// Reading the journal and deciding each event: the route's tests, then its stages in commit
/// order (duplicates, pins, idempotency, rate limit, shedding, debounce, batch or window).
extension RouteConsumer {

    /// Reads up to `max` records; completes those the route does not match; returns the rest.
    func readBatch(upTo mark: JournalChannel.DurableMark, max: Int) throws -> (Int, [(RoutedEvent, CELActivation?)]) {
        var matched: [(RoutedEvent, CELActivation?)] = []
        let route = settings.route
        let read = try reader.read(upTo: mark, through: replayEnd, maxRecords: Swift.max(1, max)) { record in
            counts.read += 1
            try watermark.delivered(record.position, endsTransactionAt: record.transactionEnd)
            // A backfill aimed at another route is not this route's to see.
            guard let metadata = record.resolvedMetadata, metadata.route == nil || metadata.route == settings.name else {
                try complete(record.position)
                return
            }
            // The envelope is parsed at most once, and only when something needs its values: the
            // causation check (a byte search finds the few changes agents made), the route's
            // condition or changed columns, or a key expression (``admit(_:)``).
            var activation: CELActivation?
            var cause: AgentCausation.Cause?
            if AgentCausation.mayCarryCause(record.envelope) {
                let values = Self.values(of: record.envelope)
                activation = values
                let parsed = Self.cause(of: values)
                if parsed.isTag {
                    // A tool's tag: it marks the rest of its transaction and is nobody's event.
                    causeTag = parsed.cause.map { (record.position.commitLSN, $0) }
                    try complete(record.position)
                    return
                }
                cause = parsed.cause
            }
            if cause == nil, let tag = causeTag, tag.commitLSN == record.position.commitLSN { cause = tag.cause }
            let op = String(UnicodeScalar(metadata.operation))
            let verdict = route.verdict(table: metadata.table, op: op) {
                if activation == nil { activation = Self.values(of: record.envelope) }
                return activation!
            }
            guard verdict == .matches else {
                counts.filtered += 1
                metrics.count(table: metadata.table, op: op, .filtered)
                try complete(record.position)
                return
            }
            var event = RoutedEvent(position: record.position, id: Self.eventID(record.position), table: metadata.table, op: op,
                                    commitTime: metadata.commitTime, envelope: record.envelope, schemaVersion: metadata.schemaVersion,
                                    keyHash: metadata.keyHash, key: "")
            event.cause = cause
            counts.matched += 1
            metrics.count(table: metadata.table, op: op, .matched)
            matched.append((event, activation))
        }
        return (read, matched)
    }

    /// An envelope's values, as the route's condition and key expressions read them; empty
    /// when it is not a JSON object (then no expression has a value for it).
    static func values(of envelope: [UInt8]) -> CELActivation {
        (try? CELValue.activation(envelope: envelope)) ?? [:]
    }

    /// An envelope's cause, from its values: `source.origin`, or a tool's tag message (`isTag`).
    static func cause(of values: CELActivation) -> (cause: AgentCausation.Cause?, isTag: Bool) {
        if case .map(let event)? = values["event"], case .map(let message)? = event["message"],
           case .string(AgentCausation.tagPrefix)? = message["prefix"] {
            // The tag's content is a few bytes of its own JSON, not the envelope.
            guard case .string(let content)? = message["content"], let data = Data(base64Encoded: content),
                  case .map(let tag)? = try? JSONDecoder().decode(CELValue.self, from: data),
                  case .int(let depth)? = tag["depth"], let depth = Int(exactly: depth), case .string(let agent)? = tag["agent"]
            else { return (nil, true) }
            return (AgentCausation.Cause(depth: depth, agent: agent), true)
        }
        guard case .map(let source)? = values["source"], case .string(let origin)? = source["origin"] else { return (nil, false) }
        return (AgentCausation.cause(origin: origin), false)
    }

    /// The envelope's `id` for a position.
    static func eventID(_ position: EventPosition) -> String {
        EventID.string(lsn: position.commitLSN.rawValue, ordinal: position.ordinal)
    }

    /// Puts matched events through the route's stages, in commit order: duplicates, schema
    /// pins, idempotency, the rate limit, shedding, then debounce, batch or window, then the queue.
    func admit(_ matched: [(RoutedEvent, CELActivation?)]) async throws {
        guard !matched.isEmpty else { return }
        var doneIDs = Set<String>()
        let force: Bool
        if case .replay(_, _, true) = mode { force = true } else { force = false }
        if !force, let lastDone {
            let keys = matched.filter { $0.0.id <= lastDone }.map { DoneKey(eventID: $0.0.id, route: settings.name, agent: runtime.name) }
            doneIDs = Set(try await store.done(among: keys, since: nil).map(\.eventID))
        }
        // Every key expression of the route reads the values parsed for the condition, or parsed
        // here once: one parse per event, whatever the number of expressions.
        let matched = settings.readsEventValues ? matched.map { ($0.0, $0.1 ?? Self.values(of: $0.0.envelope)) } : matched
        var idempotencyValues: [String: String] = [:]
        if let idempotency = settings.idempotency, !force {
            for (event, activation) in matched {
                if let value = Self.keyValue(idempotency.key, activation) { idempotencyValues[event.id] = value }
            }
            let now = clock.now
            let unknown = Set(idempotencyValues.values).filter { idempotencyRun[$0] == nil }
            let since = wallMicros() - UnixTime.micros(idempotency.period)
            let found = try await store.done(among: unknown.map { DoneKey(eventID: "idempotency:" + $0, route: settings.name, agent: runtime.name) },
                                             since: since)
            for key in found { idempotencyRun[String(key.eventID.dropFirst("idempotency:".count))] = now }
        }
        let now = clock.now
        let wallNow = wallMicros()
        var lane = directLaneOpen(now: now) ? DirectLane() : nil
        for (var event, activation) in matched {
            let position = event.position!
            pendingEvents += 1
            if doneIDs.contains(event.id) || receipted.contains(event.id) {
                counts.duplicates += 1
                try finish(event)
                continue
            }
            if let cause = event.cause {
                if cause.depth >= AgentCausation.maxDepth && settings.agentChanges != .skip && !(settings.agentChanges == .others && cause.agent == runtime.name) {
                    // The chain's end: skipped, not dead-lettered (there is nothing to retry), and
                    // recorded where someone will look: a skip with its reason, and an error in the log.
                    logger.error("an agent's action changed a row that would wake agents \(cause.depth) deep: the chain stops here (loop guard); check the agents' actions for a cycle",
                                 metadata: ["event.id": "\(event.id)", "table": "\(event.table)", "agent.cause": "\(cause.agent)",
                                            "loop.depth": "\(cause.depth)", "loop.max_depth": "\(AgentCausation.maxDepth)"])
                    skip(event, .loopGuard, at: wallNow)
                    try finish(event)
                    continue
                }
                if settings.agentChanges == .skip || (settings.agentChanges == .others && cause.agent == runtime.name) {
                    skip(event, .agentChange, at: wallNow)
                    try finish(event)
                    continue
                }
            }
            if lane != nil {
                // Nothing waits in the queue: the event is called with the others of this pass,
                // and needs its key's text only if its call fails. Its row already in the pass,
                // or the pass full, the pass runs first; a failure there shuts the lane.
                if !lane!.add(event) {
                    try runDirect(lane!.events, now: now)
                    lane = directLaneOpen(now: now) ? DirectLane() : nil
                    _ = lane?.add(event)
                }
                if let pass = lane, pass.events.count == Self.callsPerPassAtOnce {
                    try runDirect(pass.events, now: now)
                    lane = directLaneOpen(now: now) ? DirectLane() : nil
                    continue
                }
                if lane != nil { continue }
            }
            event.key = settings.key.flatMap { Self.keyValue($0, activation) } ?? Self.defaultKey(event)
            if let throttleKey = settings.throttle?.key { event.throttleKey = Self.keyValue(throttleKey, activation) ?? "" }
            if let pins = settings.schemaVersions[event.table], let version = event.schemaVersion, !pins.contains(version) {
                hold(event, version: version)
                continue
            }
            if heldKeys.contains(event.key) {
                heldEvents.append(event)
                counts.held += 1
                continue
            }
            if let value = idempotencyValues[event.id] {
                if let last = idempotencyRun[value], last.duration(to: now) < settings.idempotency!.period {
                    skip(event, .idempotency, at: wallNow)
                    try finish(event)
                    continue
                }
                idempotencyRun[value] = now
            }
            if let rate = settings.rateLimit {
                let key = rate.key.flatMap { Self.keyValue($0, activation) } ?? ""
                if rateLimit!.take(key, now: now) != nil {
                    skip(event, .rateLimit, at: wallNow)
                    try finish(event)
                    continue
                }
            }
            if let shed = settings.shed, event.commitTime > 0, wallNow - event.commitTime > UnixTime.micros(shed.lagOver), shed.action == .skip {
                skip(event, .shed, at: wallNow)
                try finish(event)
                continue
            }
            let group = settings.concurrency.key.flatMap { Self.keyValue($0, activation) }
            let priority = settings.priority.map { Self.priorityValue($0, activation) } ?? 0
            let idempotencyKey = idempotencyValues[event.id]
            if let settingsWindow = settings.window {
                let key = settingsWindow.key.flatMap { Self.keyValue($0, activation) } ?? event.key
                // A windowed event's place in the journal is handled once the store has it: the
                // window keeps it without one.
                if let earlier = firedWindows.removeValue(forKey: event.id) {
                    // It fired this window before a restart, and the call did not finish: the same call again.
                    enqueue(Job(events: earlier + [event], key: key, group: group, priority: priority, idempotencyKey: idempotencyKey, fromWindow: true))
                    continue
                }
                if window!.contains(key: key, where: { $0.id == event.id })
                    || firedWindows.values.contains(where: { $0.contains { $0.id == event.id } }) {
                    // Read again after a restart: a stored window (open, or fired and not yet
                    // finished) has it already.
                    try finish(event)
                    continue
                }
                var windowed = event
                windowed.position = nil
                let (fired, expired) = window!.add(windowed, key: key, at: UnixTime(microseconds: event.commitTime))
                for old in expired { leaveWindow(old) }
                if var fired {
                    // The firing event is still after the cursor; the others are in the store
                    // until the call is done, filed under the firing event: a restart before
                    // then fires the same call when it reads that event again, and does not take
                    // them for the key's open window.
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
            } else if let settingsDebounce = settings.debounce {
                let key = settingsDebounce.key.flatMap { Self.keyValue($0, activation) } ?? event.key
                for case .superseded(let replaced) in debounce!.received(event, key: key, now: now) {
                    counts.superseded += 1
                    recordHandled(replaced)
                    try finish(replaced)
                }
            } else if let settingsBatch = settings.batch {
                let key = settingsBatch.key.flatMap { Self.keyValue($0, activation) } ?? ""
                if let full = batcher!.add(event, key: key, now: now) {
                    enqueue(Job(events: full, key: "batch:" + key, group: nil, priority: priority))
                }
            } else {
                enqueue(Job(events: [event], key: event.key, group: group, priority: priority, idempotencyKey: idempotencyKey))
            }
        }
        if let lane { try runDirect(lane.events, now: now) }
    }

    /// A key expression's value as text; nil when it has none for this event.
    static func keyValue(_ expression: CELExpression, _ activation: CELActivation?) -> String? {
        guard let activation, let value = try? expression.evaluate(activation) else { return nil }
        switch value {
        case .null: return nil
        case .string(let text): return text
        default: return value.description
        }
    }

    static func priorityValue(_ expression: CELExpression, _ activation: CELActivation?) -> Int {
        guard let activation, let value = try? expression.evaluate(activation) else { return 0 }
        switch value {
        case .int(let i): return Int(clamping: i)
        case .uint(let u): return Int(clamping: u)
        // A row's value: clamped, never a trap (1e300 is the highest priority, not a crash).
        case .double(let d) where d.isFinite: return Int(exactly: d.rounded()) ?? (d < 0 ? .min : .max)
        case .decimal(let d): return d.truncatedInt64.map { Int(clamping: $0) } ?? (d.mantissa < 0 ? .min : .max)
        default: return 0
        }
    }

    /// The table's primary key, as the journal hashed it: same row, same key.
    static func defaultKey(_ event: RoutedEvent) -> String {
        event.table + "/" + String(event.keyHash, radix: 16)
    }

    func hold(_ event: RoutedEvent, version: Int) {
        heldKeys.insert(event.key)
        heldEvents.append(event)
        counts.held += 1
        let alert = "\(event.table)@\(version)"
        if heldAlerted.insert(alert).inserted {
            logger.error("holding the route's events of a schema version it is not pinned to: other routes go on. Review the change, then add the version to the route's schema_versions", metadata: [
                "table": "\(event.table)", "schema.version": "\(version)",
                "route.pinned": "\(settings.schemaVersions[event.table]!.sorted().map(String.init).joined(separator: ","))",
                "journal.held_from": "\(event.position?.description ?? "-")",
            ])
        }
    }

    func remindHolds(now: ContinuousClock.Instant) {
        guard !heldEvents.isEmpty, now >= nextHoldReminder else { return }
        nextHoldReminder = now.advanced(by: .seconds(30))
        logger.error("still holding events of schema versions the route is not pinned to", metadata: [
            "route.held_events": "\(heldEvents.count)", "route.held_versions": "\(heldAlerted.sorted().joined(separator: ","))",
        ])
    }

    func skip(_ event: RoutedEvent, _ reason: Skip.Reason, at: Int64) {
        counts.skipped[reason, default: 0] += 1
        metrics.count(table: event.table, op: event.op, .skipped)
        pending.skips.append(Skip(eventID: event.id, route: settings.name, table: event.table, reason: reason, at: at))
        let total = counts.skipped[reason]!
        if total == 1 || total.isMultiple(of: 1000) {
            logger.warning("skipped events (each recorded in the state store)", metadata: ["route.skip_reason": "\(reason.rawValue)", "route.skipped": "\(total)"])
        }
    }

    /// The stored key of a fired window's earlier events: apart from every key a route's
    /// `window.key` can give (those never hold a control character before "fired:").
    static func storedKey(firedBy eventID: String) -> String { "\u{1}fired:" + eventID }

    static func firingEvent(ofStoredKey key: String) -> String? {
        key.hasPrefix("\u{1}fired:") ? String(key.dropFirst("\u{1}fired:".count)) : nil
    }

    /// An event fell out of its window without completing it: handled.
    func leaveWindow(_ event: RoutedEvent) {
        pending.windowRemoved.append((settings.name, event.id))
        recordHandled(event)
        pendingEvents -= 1
    }

    /// An outcome without a call (superseded in a debounce, out of its window, dead-lettered)
    /// gets a done record in the same commit as the rest of it: an event read again after a
    /// restart is then a duplicate, not a new event that the state would take in a second time
    /// (a stale debounced call after the newer one, a window counting one order twice).
    func recordHandled(_ event: RoutedEvent) {
        pending.done.append(DoneKey(eventID: event.id, route: settings.name, agent: runtime.name))
    }

    func enqueue(_ job: Job) {
        queue.enqueue(job, key: job.key, group: job.group, priority: job.priority)
    }
}
