/// How long to wait before reconnecting: doubling from `initial` to `maximum`, back to
/// `initial` once a session has run. A pure state machine; the owner sleeps.
public struct ReconnectBackoff: Sendable {
    public let initial: Duration
    public let maximum: Duration
    public private(set) var attempts = 0

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt, after a failure.
    public mutating func failed() -> Duration {
        defer { attempts += 1 }
        var delay = initial
        for _ in 0..<min(attempts, 16) where delay < maximum { delay *= 2 }
        return min(delay, maximum)
    }

    public mutating func succeeded() {
        attempts = 0
    }
}
