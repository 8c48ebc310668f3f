public import PGReflexAgentContract
public import PGReflexDispatch
import Synchronization

/// A configured agent as the routes share it: the agent, and its one circuit breaker (opened
/// by any route's failures, closed by any route's success).
public final class AgentRuntime: Sendable {
    public let agent: any Agent
    private let breaker: Mutex<CircuitBreaker<ContinuousClock.Instant>>

    public init(agent: any Agent, breakerFailures: Int = 5, breakerCoolDown: Duration = .seconds(30)) {
        self.agent = agent
        breaker = Mutex(CircuitBreaker(threshold: breakerFailures, coolDown: breakerCoolDown))
    }

    public var name: String { agent.name }

    public func decide(now: ContinuousClock.Instant) -> CircuitBreaker<ContinuousClock.Instant>.Decision {
        breaker.withLock { $0.decide(now: now) }
    }

    /// Whether calls go through without a decision: looking changes nothing (``decide(now:)``
    /// may take the half-open breaker's one probe).
    public var isClosed: Bool {
        breaker.withLock { if case .closed = $0.state { true } else { false } }
    }

    /// `closed`, `open` or `half_open`, for the status.
    public var breakerState: String {
        switch breaker.withLock({ $0.state }) {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half_open"
        }
    }

    /// True when this success closed the breaker.
    @discardableResult
    public func succeeded() -> Bool {
        breaker.withLock { $0.succeeded() }
    }

    /// True when this failure opened the breaker.
    public func failed(now: ContinuousClock.Instant) -> Bool {
        breaker.withLock { $0.failed(now: now) }
    }
}
