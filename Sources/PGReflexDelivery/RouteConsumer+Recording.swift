import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexWire

/// Committing what the machine recorded, with the cursor, in one state-store transaction;
/// forgetting what no replay can reach.
extension RouteConsumer {
    func commit(now: ContinuousClock.Instant) async throws {
        let agent = runtime.agent
        guard let changes = machine.takeCommit(now: now, receiptMark: { agent.receiptMark() }) else { return }
        try await store.commit(changes)
        guard case .follow = mode else { return }
        channel.update(settings.consumerName, .init(floor: machine.records.watermark.confirmed, pausesCapture: true))
        if machine.records.pruneIsDue(now: now) { try await prune() }
    }

    /// Forgets the done records of events the journal no longer holds (no replay can reach
    /// them, and the cursor is past them), and idempotency keys past their period, and folds
    /// the records of such events' skips into counts: the state store grows with the journal's
    /// retention, not with the route's history.
    func prune() async throws {
        guard let oldest = try Journal.oldestPosition(directory: journalDirectory), let confirmed = machine.records.watermark.confirmed else { return }
        let floor = min(oldest, confirmed).commitLSN.rawValue
        let keysBefore = wallMicros() - (settings.idempotency.map { UnixTime.micros($0.period) } ?? 0)
        let forgotten = try await store.pruneDone(route: settings.name, agent: runtime.name, before: floor, keysBefore: keysBefore)
        let folded = try await store.pruneSkips(route: settings.name, before: floor)
        if forgotten > 0 || folded > 0 {
            logger.debug("forgot the records of events the journal no longer reaches",
                         metadata: ["route.done_forgotten": "\(forgotten)", "route.skips_folded": "\(folded)"])
        }
    }

    func wallMicros() -> Int64 { Self.wallMicros() }

    static func wallMicros() -> Int64 {
        PostgresTimestamp.now().unixMicroseconds
    }
}
