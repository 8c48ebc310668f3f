extension CapturePipeline {
    /// `--idle-exit`: idle means no delivered change for `limit`. Heartbeats, keepalives and
    /// skipped tables do not count, and a transaction still arriving is never cut short. Judged
    /// on a quiet tick or after a batch is consumed, never before: a change that arrives after a
    /// slow start is delivered, not left unread.
    static func idle(_ limit: Duration?, midTransaction: Bool, since lastActivity: ContinuousClock.Instant,
                     now: ContinuousClock.Instant) -> Bool {
        guard let limit, !midTransaction else { return false }
        return lastActivity.duration(to: now) >= limit
    }
}
