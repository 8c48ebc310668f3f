import PGReflexAgentContract
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState

/// Deciding each journal record: the route's tests (tables, ops, changed columns, condition)
/// and an agent's causation, with the envelope parsed at most once.
extension RouteStateMachine {
    /// Considers each record the owner's `read` visits (the owner reads the journal); returns
    /// how many were read and the matched events. One call per batch: the records go to
    /// ``consider(_:readAt:)`` without an access to the owner's state each. `readAt`: when the
    /// owner reads them, Unix microseconds (the trace's read stage).
    mutating func consider(readAt: Int64, reading read: ((JournalRecord) throws -> Void) throws -> Int) throws
        -> (read: Int, matched: [(event: RoutedEvent, values: CELActivation?)]) {
        var matched: [(event: RoutedEvent, values: CELActivation?)] = []
        let count = try read { record in
            if let event = try consider(record, readAt: readAt) { matched.append(event) }
        }
        return (count, matched)
    }

    /// A record the owner read: the matched event and the values parsed for it, or nil when it
    /// is not this route's (the record is then complete).
    mutating func consider(_ record: JournalRecord, readAt: Int64) throws -> (event: RoutedEvent, values: CELActivation?)? {
        counts.read += 1
        try records.delivered(record)
        // A backfill aimed at another route is not this route's to see.
        guard let metadata = record.resolvedMetadata, metadata.route == nil || metadata.route == settings.name else {
            try records.complete(record.position)
            return nil
        }
        // The envelope is parsed at most once, and only when something needs its values: the
        // route's condition or changed columns, or a key expression (``prepare(_:now:wallNow:)``).
        var values: CELActivation?
        var cause: AgentCausation.Cause?
        switch metadata.causation {
        case .none: break
        case .agent(let depth, let agent): cause = AgentCausation.Cause(depth: depth, agent: agent)
        case .tag, .unreadableTag:
            // A tool's tag: it marks the rest of its transaction (capture did) and is nobody's event.
            try records.complete(record.position)
            return nil
        case .unknown:
            // Journaled before capture said (format 2): the envelope says, for the few changes
            // agents made (a byte search finds them).
            guard AgentCausation.mayCarryCause(record.envelope) else {
                if let tag = causeTag, tag.commitLSN == record.position.commitLSN { cause = tag.cause }
                break
            }
            let parsed = self.values(at: record.position, envelope: record.envelope)
            values = parsed
            let found = RouteValues.cause(of: parsed)
            if found.isTag {
                causeTag = found.cause.map { (record.position.commitLSN, $0) }
                try records.complete(record.position)
                return nil
            }
            cause = found.cause
            if cause == nil, let tag = causeTag, tag.commitLSN == record.position.commitLSN { cause = tag.cause }
        }
        let op = String(UnicodeScalar(metadata.operation))
        let verdict = settings.route.verdict(table: metadata.table, op: op) {
            if values == nil { values = self.values(at: record.position, envelope: record.envelope) }
            return values!
        }
        guard verdict == .matches else {
            counts.filtered += 1
            tally.count(table: metadata.table, op: op, .filtered)
            try records.complete(record.position)
            return nil
        }
        var event = RoutedEvent(position: record.position, id: RoutedEvent.id(record.position), table: metadata.table, op: op,
                                commitTime: metadata.commitTime, envelope: record.envelope, schemaVersion: metadata.schemaVersion,
                                keyHash: metadata.keyHash, key: "")
        event.cause = cause
        event.readAt = readAt
        counts.matched += 1
        tally.count(table: metadata.table, op: op, .matched)
        return (event, values)
    }

    /// Takes matched events in for admission; returns what the store must answer first (nil:
    /// nothing to admit). ``admit(done:idempotencyRun:breaker:)`` goes on with the answers.
    mutating func prepare(_ matched: [(event: RoutedEvent, values: CELActivation?)], now: Instant, wallNow: Int64) -> AdmissionQueries? {
        guard !matched.isEmpty else { return nil }
        var queries = AdmissionQueries()
        if !force, let lastDone {
            queries.done = matched.filter { $0.event.id <= lastDone }.map { DoneKey(eventID: $0.event.id, route: settings.name, agent: agentName) }
        }
        // Every key expression of the route reads the values parsed for the condition, or parsed
        // here once: one parse per event, whatever the number of expressions.
        let events = settings.readsEventValues ? matched.map { ($0.event, $0.values ?? values(at: $0.event.position!, envelope: $0.event.envelope)) } : matched
        var admission = Admission(events: events, now: now, wallNow: wallNow)
        if let idempotency = settings.idempotency, !force {
            for (event, values) in events {
                if let value = RouteValues.keyValue(idempotency.key, values) { admission.idempotencyValues[event.id] = value }
            }
            let unknown = Set(admission.idempotencyValues.values).filter { stages.idempotencyRun[$0] == nil }
            queries.idempotency = unknown.map { DoneKey(eventID: Self.idempotencyRecord($0), route: settings.name, agent: agentName) }
            queries.idempotencySince = wallNow - UnixTime.micros(idempotency.period)
        }
        self.admission = admission
        return queries
    }

    /// An envelope's values: parsed once for all routes when they share a cache.
    func values(at position: EventPosition, envelope: [UInt8]) -> CELActivation {
        sharedValues?.values(at: position, envelope: envelope) ?? RouteValues.values(of: envelope)
    }

    /// The done record that says an idempotency key's call ran.
    static func idempotencyRecord(_ key: String) -> String { "idempotency:" + key }
}
