import PGReflexAgentContract
import PGReflexJournal
import PGReflexState

/// What a route's state machine has to say: its owner logs it (``RouteConsumer``). Each case
/// carries names, ids and counts, never a row's values.
enum RouteNotice: Sendable {
    /// An agent's change would wake agents `cause.depth` deep: the chain stops (loop guard).
    case loopGuard(eventID: String, table: String, cause: AgentCausation.Cause)
    /// The first skip for a reason, and every thousandth.
    case skipped(Skip.Reason, total: Int)
    /// A table's events of a schema version the route is not pinned to, held from `from` on.
    case held(table: String, version: Int, pinned: [Int], from: EventPosition?)
    case stillHolding(events: Int, versions: [String])
    /// `shed: {action: pause}`: capture is behind by more than `lagOver` (or caught up again).
    case shedPaused(Bool, lagOver: Duration)
    /// One finished call (only when calls are noticed).
    case call(CallLine)
    case breakerOpened(AgentError)
    case breakerClosed
    /// The agent asked to be disabled for `pause`.
    case disabled(AgentError, pause: Duration)
    case retrying(attempt: Int, delay: Duration, error: AgentError)
    case deadLettered(eventID: String, events: Int, attempts: Int, error: AgentError)

    struct CallLine: Sendable {
        var eventID: String
        var position: EventPosition?
        var events: Int
        var attempt: Int
        var outcome: String
        var micros: Int64
        var errorCode: AgentError.Code?
    }
}
