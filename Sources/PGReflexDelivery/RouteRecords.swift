import PGReflexAgentContract
import PGReflexJournal
import PGReflexState
import PGReflexWire

/// What a route records in the state store, and its cursor, grouped into commits as the
/// journal groups its fsyncs: one synchronous SQLite commit per `commitInterval` at most, or
/// sooner once `commitRecords` outcomes wait. Grouping delays only the records: the calls have
/// run, and a crash before the commit runs them again, where done records and receipts catch
/// the duplicates. The cursor moves in the same transaction as the records.
struct RouteRecords<Instant: InstantProtocol> where Instant.Duration == Duration {
    static var commitInterval: Duration { .milliseconds(20) }
    static var commitRecords: Int { 1000 }
    static var pruneInterval: Duration { .seconds(60) }

    let route: String
    let agent: String
    let consumerName: String
    /// Following the journal: the cursor moves. A replay records outcomes only.
    let follows: Bool
    /// The cursor: the first event not yet handled bounds it.
    var watermark: AcknowledgementWatermark
    /// Records for the next commit.
    var pending = StateCommit()
    var cursorMoved = false
    /// The `.attempts` trace line that one-event calls alike join, and where it is in `pending`
    /// (its events are a run of `pending.done`).
    var openAttempts: (key: AttemptsKey, index: Int, start: Int, end: Int)?

    /// What one-event calls sharing a trace line have in common.
    struct AttemptsKey: Equatable {
        var at: Int64
        var micros: Int64
        var readAt: Int64
        var attempt: Int
        var outcome: String
    }
    /// When the state store last committed.
    var lastCommit: Instant
    /// When the records of events no replay can reach are next pruned.
    var nextPrune: Instant

    init(route: String, agent: String, consumerName: String, follows: Bool, resumingAfter start: EventPosition?, now: Instant) {
        self.route = route
        self.agent = agent
        self.consumerName = consumerName
        self.follows = follows
        watermark = AcknowledgementWatermark(resumingAfter: start)
        lastCommit = now
        nextPrune = now
    }

    mutating func delivered(_ record: JournalRecord) throws {
        try watermark.delivered(record.position, endsTransactionAt: record.transactionEnd)
    }

    /// A record is handled (or kept elsewhere): the cursor may pass it.
    mutating func complete(_ position: EventPosition) throws {
        if case .advance = try watermark.completed(position) { cursorMoved = true }
    }

    /// The event (or an idempotency key's record) is done: read again, it is a duplicate.
    mutating func done(_ eventID: String) {
        pending.done.append(DoneKey(eventID: eventID, route: route, agent: agent))
    }

    mutating func skip(_ event: RoutedEvent, _ reason: Skip.Reason, at: Int64) {
        pending.skips.append(Skip(eventID: event.id, route: route, table: event.table, reason: reason, at: at))
    }

    /// A dead letter for the event, and its done record: an event read again after a restart
    /// is not run, and not dead-lettered, a second time. `dlq retry` runs it.
    mutating func deadLetter(_ event: RoutedEvent, _ error: AgentError, attempts: Int, firstAttempt: Int64, at: Int64) {
        done(event.id)
        pending.deadLetters.append(DeadLetter(
            eventID: event.id, route: route, agent: agent, table: event.table, envelope: event.envelope,
            errorClass: error.isRetryable ? "retryable_exhausted" : error.code.rawValue,
            message: error.message, attempts: attempts, firstAttempt: firstAttempt, lastAttempt: at))
    }

    var hasUncommitted: Bool { !pending.isEmpty || cursorMoved }

    func commitIsDue(now: Instant) -> Bool {
        guard hasUncommitted else { return false }
        return lastCommit.duration(to: now) >= Self.commitInterval
            || pending.done.count + pending.skips.count + pending.deadLetters.count >= Self.commitRecords
    }

    /// When a commit of what waits is due.
    var commitDeadline: Instant? {
        hasUncommitted ? lastCommit.advanced(by: Self.commitInterval) : nil
    }

    /// The records to commit, with the cursor when following (nil: nothing to commit). `mark`
    /// is the agent's receipt mark to save with the cursor.
    mutating func takeCommit(now: Instant, mark: () -> Int64?) -> StateCommit? {
        lastCommit = now
        openAttempts = nil
        guard follows else {
            guard !pending.isEmpty else { return nil }
            defer { pending = StateCommit() }
            return pending
        }
        guard hasUncommitted else { return nil }
        var changes = pending
        pending = StateCommit()
        cursorMoved = false
        changes.cursor = Self.storedCursor(consumerName, watermark.confirmed, mark: mark())
        return changes
    }

    static func storedCursor(_ name: String, _ position: EventPosition?, mark: Int64?) -> StoredCursor {
        StoredCursor(consumer: name, commitLSN: position?.commitLSN.rawValue ?? 0, ordinal: position?.ordinal ?? 0, agentMark: mark)
    }

    /// Whether the records of events no replay can reach are due to be forgotten; if so, the
    /// next time is set.
    mutating func pruneIsDue(now: Instant) -> Bool {
        guard now >= nextPrune else { return false }
        nextPrune = now.advanced(by: Self.pruneInterval)
        return true
    }
}
