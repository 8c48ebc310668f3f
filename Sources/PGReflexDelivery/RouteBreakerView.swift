import PGReflexAgents
import PGReflexDispatch

/// The agent's circuit breaker, as routes see it: shared by every route of the agent (opened
/// by any route's failures, closed by any route's success).
protocol RouteBreakerView<Instant> {
    associatedtype Instant: InstantProtocol where Instant.Duration == Duration
    /// Whether calls go through without a decision: looking changes nothing.
    var isClosed: Bool { get }
    func decide(now: Instant) -> CircuitBreaker<Instant>.Decision
    /// True when this success closed the breaker.
    func succeeded() -> Bool
    /// True when this failure opened the breaker.
    func failed(now: Instant) -> Bool
}

extension AgentRuntime: RouteBreakerView {}
