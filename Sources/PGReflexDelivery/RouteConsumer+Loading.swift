import Logging
import PGReflexAgentContract
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexWire

extension RouteConsumer {
    /// A route's state machine as its state store left it, and the position its reading starts
    /// after. Following: the saved cursor (a first start saves the configured `start` at
    /// once), the events the agent's receipts show took effect since the cursor's mark, and the
    /// windows the store kept. A replay starts before `from` and moves no cursor.
    static func loadMachine<Instant>(settings: RouteSettings, agent: any Agent, store: any StateStore, journalDirectory: String,
                     mode: RouteConsumer.Mode, now: Instant, noticesCalls: Bool, sharedValues: EventValuesCache? = nil,
                                     tally: RouteTally = RouteTally(enabled: false),
                     logger: Logger) async throws -> (machine: RouteStateMachine<Instant>, start: EventPosition?) {
        let lastDone = try await store.lastDone(route: settings.name, agent: agent.name)
        var receipted: Set<String> = []
        let start: EventPosition?
        let force: Bool
        var redecide = false
        switch mode {
        case .follow:
            force = false
            if let cursor = try await store.cursor(settings.consumerName) {
                start = cursor.commitLSN == 0 && cursor.ordinal == 0 ? nil : EventPosition(commitLSN: LSN(cursor.commitLSN), ordinal: cursor.ordinal)
                if let mark = cursor.agentMark {
                    receipted = try agent.receipts(since: mark)
                    if !receipted.isEmpty {
                        logger.notice("the agent's receipts show calls that took effect before a crash but were not recorded: they are not run again",
                                      metadata: ["route.receipted_events": "\(receipted.count)"])
                    }
                }
            } else {
                start = try settings.start.initialPosition(journalDirectory: journalDirectory, consumer: settings.consumerName, logger: logger)
                try await store.commit(StateCommit(cursor: RouteRecords<Instant>.storedCursor(settings.consumerName, start, mark: agent.receiptMark())))
            }
        case .replay(let from, _, let forced, let again):
            force = forced
            redecide = again
            start = StartPosition.before(from)
        }
        let follows: Bool = if case .follow = mode { true } else { false }
        var machine = RouteStateMachine(settings: settings, agentName: agent.name, answersAtOnce: agent.answersAtOnce, follows: follows, force: force, redecide: redecide, resumingAfter: start, lastDone: lastDone, receipted: receipted, now: now, noticesCalls: noticesCalls,
                                         sharedValues: sharedValues, tally: tally)
        // Open windows outlive a restart in the state store; the cursor has passed them.
        if settings.window != nil { machine.restore(try await store.windowEntries(route: settings.name)) }
        return (machine, start)
    }
}
