/// When to fsync the journal (natural batching): as soon as the input runs dry with anything
/// unsynced, after `maxRecords` appends, or `maxDelay` after the first unsynced append,
/// whichever comes first. Under a light load every batch is synced at once (latency is one
/// fsync); under a heavy one the records that arrive during a sync make the next group, so the
/// group grows with the load and no fixed delay is ever waited out. `maxDelay` only bounds a
/// stream that never runs dry and never fills a group.
///
/// A pure state machine over any clock's instants, so tests drive time without sleeping; the
/// owner performs the sync.
public struct GroupCommit<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public enum Action: Equatable, Sendable {
        case none
        case sync
    }

    public let maxRecords: Int
    public let maxDelay: Duration
    public private(set) var pending = 0
    private var firstPendingAt: Instant?

    public init(maxRecords: Int, maxDelay: Duration) {
        precondition(maxRecords >= 1)
        self.maxRecords = maxRecords
        self.maxDelay = maxDelay
    }

    /// When the owner must call `tick` at the latest, if anything is pending.
    public var deadline: Instant? { firstPendingAt?.advanced(by: maxDelay) }

    public mutating func appended(at now: Instant) -> Action {
        pending += 1
        if firstPendingAt == nil { firstPendingAt = now }
        return pending >= maxRecords || now >= deadline! ? .sync : .none
    }

    /// The owner has handled everything it had read, and nothing more has arrived.
    public func inputRanDry() -> Action {
        pending > 0 ? .sync : .none
    }

    public mutating func tick(at now: Instant) -> Action {
        guard let deadline, now >= deadline else { return .none }
        return .sync
    }

    public mutating func synced() {
        pending = 0
        firstPendingAt = nil
    }
}
