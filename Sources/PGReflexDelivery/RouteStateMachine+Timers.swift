import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexWire

/// What waits on time: debounces, batches, windows that can no longer complete, the per-key
/// state that no longer matters, reminders of held events, and grouped commits.
extension RouteStateMachine {
    /// Whatever is due at `now` (`wallNow` for windows, which run on commit time).
    mutating func timersFired(now: Instant, wallNow: Int64) {
        if debounce != nil {
            for (_, event) in debounce!.due(now: now) {
                enqueue(Job(events: [event], key: event.key, group: nil, priority: 0))
            }
        }
        if batcher != nil {
            for (key, events) in batcher!.due(now: now) {
                enqueue(Job(events: events, key: "batch:" + key, group: nil, priority: 0))
            }
        }
        if window != nil, now >= nextWindowPrune {
            nextWindowPrune = now.advanced(by: .seconds(1))
            for old in window!.prune(before: UnixTime(microseconds: wallNow)) { leaveWindow(old) }
        }
        // Memory follows the keys active lately, not every key ever seen.
        if now >= nextKeyPrune {
            nextKeyPrune = now.advanced(by: .seconds(10))
            throttle?.prune(now: now)
            rateLimit?.prune(now: now)
            if let period = settings.idempotency?.period {
                idempotencyRun = idempotencyRun.filter { $0.value.duration(to: now) < period }
            }
        }
    }

    /// Capture has finished: what waits for a quiet period or a full batch goes now.
    mutating func flushAll(now: Instant) {
        if debounce != nil {
            for (_, event) in debounce!.due(now: now.advanced(by: .seconds(86_400 * 365))) {
                enqueue(Job(events: [event], key: event.key, group: nil, priority: 0))
            }
        }
        if batcher != nil {
            for (key, events) in batcher!.drain() { enqueue(Job(events: events, key: "batch:" + key, group: nil, priority: 0)) }
        }
    }

    /// Every 30 seconds while events are held: a reminder.
    mutating func remindHolds(now: Instant) -> [Action] {
        guard !heldEvents.isEmpty, now >= nextHoldReminder else { return takeOutput() }
        nextHoldReminder = now.advanced(by: .seconds(30))
        notice(.stillHolding(events: heldEvents.count, versions: heldAlerted.sorted()))
        return takeOutput()
    }

    /// When something waiting on time is next due (a debounce, a batch, a held-back call, a
    /// window's pruning, a grouped commit).
    func nextDeadline(now: Instant) -> Instant? {
        var deadline = [debounce?.nextDeadline, batcher?.nextDeadline, nextAdmission, commitDeadline].compactMap { $0 }.min()
        if window?.waiting ?? 0 > 0 { deadline = min(deadline ?? nextWindowPrune, nextWindowPrune) }
        return deadline
    }

    /// Whether the route is done: capture has finished, nothing more was read, and no call
    /// runs or waits.
    var isIdle: Bool { outstanding.isEmpty && queue.queued == 0 }
}

/// Moving the cursor with the outcomes, in one state-store transaction. Commits are grouped,
/// as the journal's fsyncs are: one synchronous SQLite commit per `commitInterval` at most, or
/// sooner once `commitRecords` outcomes wait. Grouping delays only the records: the calls have
/// run, and a crash before the commit runs them again, where done records and receipts catch
/// the duplicates.
extension RouteStateMachine {
    static var commitInterval: Duration { .milliseconds(20) }
    static var commitRecords: Int { 1000 }
    static var pruneInterval: Duration { .seconds(60) }

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

    /// The records to commit, and the cursor with them when following (nil: nothing to
    /// commit). `receiptMark` is the agent's mark now: the cursor keeps the earliest mark taken
    /// before a call not yet recorded, since such a call wrote (if at all) after it.
    mutating func takeCommit(now: Instant, receiptMark: () -> Int64?) -> StateCommit? {
        lastCommit = now
        guard follows else {
            guard !pending.isEmpty else { return nil }
            defer { pending = StateCommit() }
            return pending
        }
        guard hasUncommitted else { return nil }
        var changes = pending
        pending = StateCommit()
        cursorMoved = false
        let mark = outstanding.values.compactMap(\.mark).min() ?? receiptMark()
        changes.cursor = Self.storedCursor(settings.consumerName, watermark.confirmed, mark: mark)
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
