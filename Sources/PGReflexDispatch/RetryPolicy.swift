/// `retries: {attempts, backoff: {initial, max, multiplier}}`: exponential backoff with full
/// jitter (a uniformly random delay up to the exponential bound, as AWS's analysis recommends),
/// unless the agent said how long to wait (429's Retry-After): then never sooner than that, up to
/// `retryAfterMax`.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var attempts: Int
    public var initial: Duration
    public var max: Duration
    public var multiplier: Double
    /// The longest Retry-After honoured (`retries.retry_after_max`, default an hour). A receiver
    /// that asks for longer is not retried early: the call fails, retryable but exhausted.
    public var retryAfterMax: Duration

    public init(attempts: Int = 5, initial: Duration = .seconds(1), max: Duration = .seconds(60), multiplier: Double = 2,
                retryAfterMax: Duration = .seconds(3600)) {
        self.attempts = attempts
        self.initial = initial
        self.max = max
        self.multiplier = multiplier
        self.retryAfterMax = retryAfterMax
    }

    /// What comes after a failed attempt.
    public enum Decision: Sendable, Equatable {
        /// Try attempt `next` after this wait.
        case retry(after: Duration)
        /// No attempt is left.
        case exhausted
        /// The agent asked to wait longer than `retryAfterMax`.
        case retryAfterTooLong(Duration)
    }

    /// The wait before attempt `next` (2 for the first retry); nil when no attempt is left or the
    /// agent asked for a wait past `retryAfterMax`. ``decide(before:retryAfter:using:)`` says which.
    public func delay(before next: Int, retryAfter: Duration? = nil, using random: inout some RandomNumberGenerator) -> Duration? {
        if case .retry(let wait) = decide(before: next, retryAfter: retryAfter, using: &random) { return wait }
        return nil
    }

    public func decide(before next: Int, retryAfter: Duration? = nil, using random: inout some RandomNumberGenerator) -> Decision {
        guard next >= 2 && next <= attempts else { return .exhausted }
        if let retryAfter {
            // Never sooner than the agent asked (routing.md); `max` bounds only our own backoff.
            return retryAfter <= retryAfterMax ? .retry(after: retryAfter) : .retryAfterTooLong(retryAfter)
        }
        return .retry(after: backoff(before: next, using: &random))
    }

    private func backoff(before next: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let bound = Swift.min(Double(initial.components.seconds) + Double(initial.components.attoseconds) / 1e18, 1e9)
            * pow(multiplier, Double(next - 2))
        let capped = Swift.min(bound, Double(max.components.seconds) + Double(max.components.attoseconds) / 1e18)
        return .milliseconds(Int64((Double.random(in: 0...capped, using: &random) * 1000).rounded()))
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(exponent) { result *= base }
        return result
    }
}
