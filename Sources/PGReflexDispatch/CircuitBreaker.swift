/// One per agent: after `threshold` failures in a row it opens, and calls wait (they are not
/// dead-lettered); after `coolDown` one probe goes through (half-open); its success closes the
/// breaker, its failure opens it again.
public struct CircuitBreaker<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: Instant)
        case halfOpen(probing: Bool)
    }

    public enum Decision: Sendable, Equatable {
        case call
        /// The one call that decides whether the agent is back.
        case probe
        /// Not before this instant (or, while a probe is out, until it reports).
        case wait(until: Instant?)
    }

    public let threshold: Int
    public let coolDown: Duration
    public private(set) var state: State = .closed(failures: 0)

    public init(threshold: Int = 5, coolDown: Duration = .seconds(30)) {
        precondition(threshold >= 1, "validated at load")
        self.threshold = threshold
        self.coolDown = coolDown
    }

    public mutating func decide(now: Instant) -> Decision {
        switch state {
        case .closed: return .call
        case .open(let until):
            guard now >= until else { return .wait(until: until) }
            state = .halfOpen(probing: true)
            return .probe
        case .halfOpen(let probing):
            if probing { return .wait(until: nil) }
            state = .halfOpen(probing: true)
            return .probe
        }
    }

    /// Returns true when this success closed a breaker that was open or half-open (its probe
    /// answered), so that the owner can log the closing as it logged the opening.
    @discardableResult
    public mutating func succeeded() -> Bool {
        defer { state = .closed(failures: 0) }
        if case .closed = state { return false }
        return true
    }

    /// Returns true when this failure opened the breaker.
    @discardableResult
    public mutating func failed(now: Instant) -> Bool {
        switch state {
        case .closed(let failures) where failures + 1 < threshold:
            state = .closed(failures: failures + 1)
            return false
        case .closed, .halfOpen:
            state = .open(until: now.advanced(by: coolDown))
            return true
        case .open:
            return false
        }
    }
}
