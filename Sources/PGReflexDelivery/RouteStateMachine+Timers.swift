import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexWire

/// What waits on time: debounces, batches, windows that can no longer complete, the per-key
/// state that no longer matters, reminders of held events, and grouped commits.
extension RouteStateMachine {
    /// Whatever is due at `now` (`wallNow` for windows, which run on commit time).
    mutating func timersFired(now: Instant, wallNow: Int64) throws {
        // Memory follows the keys active lately, not every key ever seen.
        let pruneKeys = now >= nextKeyPrune
        if pruneKeys {
            nextKeyPrune = now.advanced(by: .seconds(10))
            calls.throttle?.prune(now: now)
        }
        var outcomes: [RouteStages<Instant>.Outcome] = []
        stages.timersFired(now: now, wallNow: wallNow, pruneKeys: pruneKeys, into: &outcomes)
        try apply(outcomes, wallNow: wallNow)
    }

    /// Capture has finished: what waits for a quiet period or a full batch goes now.
    mutating func flushAll(now: Instant, wallNow: Int64) throws {
        var outcomes: [RouteStages<Instant>.Outcome] = []
        stages.flushAll(now: now, into: &outcomes)
        try apply(outcomes, wallNow: wallNow)
    }

    /// Every 30 seconds while events are held: a reminder.
    mutating func remindHolds(now: Instant) -> [Action] {
        if let reminder = stages.remindHolds(now: now) { notice(reminder) }
        return takeOutput()
    }

    /// When something waiting on time is next due (a debounce, a batch, a held-back call, a
    /// window's pruning, a grouped commit).
    func nextDeadline(now: Instant) -> Instant? {
        [stages.nextDeadline, calls.nextAdmission, records.commitDeadline].compactMap { $0 }.min()
    }

    /// Whether the route is done: capture has finished, nothing more was read, and no call
    /// runs or waits.
    var isIdle: Bool { calls.isIdle }
}

extension RouteStateMachine {
    /// Whether a commit is due (``RouteRecords``).
    func commitIsDue(now: Instant) -> Bool { records.commitIsDue(now: now) }

    var hasUncommitted: Bool { records.hasUncommitted }

    /// The records to commit, and the cursor with them when following (nil: nothing to
    /// commit). `receiptMark` is the agent's mark now: the cursor keeps the earliest mark taken
    /// before a call not yet recorded, since such a call wrote (if at all) after it.
    mutating func takeCommit(now: Instant, receiptMark: () -> Int64?) -> StateCommit? {
        let earliest = calls.outstanding.values.compactMap(\.mark).min()
        return records.takeCommit(now: now) { earliest ?? receiptMark() }
    }
}
