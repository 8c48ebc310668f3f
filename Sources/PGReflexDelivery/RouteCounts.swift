public import PGReflexState

/// What a route did, for logs, the stop line, the status and tests.
public struct RouteCounts: Sendable, Equatable {
    public var read = 0
    public var filtered = 0
    /// Passed the route's tests (tables, ops, changed columns, condition).
    public var matched = 0
    public var calls = 0
    public var succeeded = 0
    public var retries = 0
    public var deadLettered = 0
    public var duplicates = 0
    public var superseded = 0
    /// Calls whose decision waited for the agent's action limit (each wait once).
    public var deferred = 0
    public var skipped: [Skip.Reason: Int] = [:]
    public var held = 0
    public var peakRunning = 0
}
