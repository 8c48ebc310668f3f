/// `retries: {attempts, backoff: {initial, max, multiplier}}`: exponential backoff with full
/// jitter (a uniformly random delay up to the exponential bound, as AWS's analysis recommends),
/// unless the agent said how long to wait (429's Retry-After).
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var attempts: Int
    public var initial: Duration
    public var max: Duration
    public var multiplier: Double

    public init(attempts: Int = 5, initial: Duration = .seconds(1), max: Duration = .seconds(60), multiplier: Double = 2) {
        self.attempts = attempts
        self.initial = initial
        self.max = max
        self.multiplier = multiplier
    }

    /// The wait before attempt `next` (2 for the first retry); nil when no attempt is left.
    public func delay(before next: Int, retryAfter: Duration? = nil, using random: inout some RandomNumberGenerator) -> Duration? {
        guard next >= 2 && next <= attempts else { return nil }
        if let retryAfter { return Swift.min(retryAfter, max) }
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
