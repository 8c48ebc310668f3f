import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexWire

/// Moving the cursor with the outcomes, in one state-store transaction. Commits are grouped,
/// as the journal's fsyncs are: one synchronous SQLite commit per `commitInterval` at most, or
/// sooner once `commitRecords` outcomes wait. Grouping delays only the records: the calls have
/// run, and a crash before the commit runs them again, where done records and receipts catch
/// the duplicates.
extension RouteConsumer {
    static let commitInterval = Duration.milliseconds(20)
    static let commitRecords = 1000

    var hasUncommitted: Bool { !pending.isEmpty || cursorMoved }

    func commitIsDue(now: ContinuousClock.Instant) -> Bool {
        guard hasUncommitted else { return false }
        return lastCommit.duration(to: now) >= Self.commitInterval
            || pending.done.count + pending.skips.count + pending.deadLetters.count >= Self.commitRecords
    }

    /// When the loop must wake to commit what waits.
    var commitDeadline: ContinuousClock.Instant? {
        hasUncommitted ? lastCommit.advanced(by: Self.commitInterval) : nil
    }

    func commit(now: ContinuousClock.Instant) async throws {
        lastCommit = now
        guard case .follow = mode else {
            guard !pending.isEmpty else { return }
            let changes = pending
            pending = StateCommit()
            try await store.commit(changes)
            return
        }
        guard !pending.isEmpty || cursorMoved else { return }
        var changes = pending
        pending = StateCommit()
        cursorMoved = false
        // Every call not yet recorded wrote (if at all) after the earliest mark taken before one.
        let mark = outstanding.values.compactMap(\.mark).min() ?? runtime.agent.receiptMark()
        changes.cursor = Self.storedCursor(settings.consumerName, watermark.confirmed, mark: mark)
        try await store.commit(changes)
        channel.update(settings.consumerName, .init(floor: watermark.confirmed, pausesCapture: true))
        if now >= nextPrune { try await prune(now: now) }
    }

    static let pruneInterval = Duration.seconds(60)

    /// Forgets the done records of events the journal no longer holds (no replay can reach
    /// them, and the cursor is past them), and idempotency keys past their period, and folds
    /// the records of such events' skips into counts: the state store grows with the journal's
    /// retention, not with the route's history.
    func prune(now: ContinuousClock.Instant) async throws {
        nextPrune = now.advanced(by: Self.pruneInterval)
        guard let oldest = try Journal.oldestPosition(directory: journalDirectory), let confirmed = watermark.confirmed else { return }
        let floor = min(oldest, confirmed).commitLSN.rawValue
        let keysBefore = wallMicros() - (settings.idempotency.map { UnixTime.micros($0.period) } ?? 0)
        let forgotten = try await store.pruneDone(route: settings.name, agent: runtime.name, before: floor, keysBefore: keysBefore)
        let folded = try await store.pruneSkips(route: settings.name, before: floor)
        if forgotten > 0 || folded > 0 {
            logger.debug("forgot the records of events the journal no longer reaches",
                         metadata: ["route.done_forgotten": "\(forgotten)", "route.skips_folded": "\(folded)"])
        }
    }

    func wallMicros() -> Int64 {
        PostgresTimestamp.now().unixMicroseconds
    }
}
