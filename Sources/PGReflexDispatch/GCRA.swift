/// The generic cell rate algorithm, per key: at most `limit` starts per `period`, with up to
/// `burst` of them back to back. Behind both Inngest's `throttle` (a start that does not conform
/// waits until it does) and its `rate_limit` (one that does not conform is skipped).
///
/// A pure state machine over any clock's instants; the owner keeps the queue and the timers.
public struct GCRA<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// The spacing of starts at the steady rate.
    public let interval: Duration
    /// How far ahead of the steady rate a burst may run.
    public let tolerance: Duration
    /// Per key: when the next start is due at the steady rate.
    private var due: [String: Instant] = [:]

    public init(limit: Int, period: Duration, burst: Int = 1) {
        precondition(limit >= 1 && burst >= 1, "validated at load")
        interval = period / limit
        tolerance = interval * (burst - 1)
    }

    /// Takes a start for `key` at `now` if it conforms (and returns nil); otherwise takes
    /// nothing and returns the earliest instant at which it would.
    public mutating func take(_ key: String, now: Instant) -> Instant? {
        let theoretical = due[key].map { max($0, now) } ?? now
        let earliest = theoretical.advanced(by: .zero - tolerance)
        if now < earliest { return earliest }
        due[key] = theoretical.advanced(by: interval)
        return nil
    }

    /// Forgets keys whose state no longer matters (their due time has passed), so memory
    /// follows the active keys.
    public mutating func prune(now: Instant) {
        due = due.filter { $0.value > now }
    }

    public var trackedKeys: Int { due.count }
}
