import PGReflexDispatch

/// A cap on how often an agent acts, per key: at most `limit` actions (of `tool`, or of any
/// tool) per `period` for each value of the argument `key` (the seeds' governance block:
/// `max_actions_per_minute` per account). The dispatcher's GCRA keeps the count.
public struct ActionLimit: Sendable, Equatable {
    public var tool: String?
    public var limit: Int
    public var period: Duration
    public var burst: Int
    /// The argument whose value is the key; nil: one count for all.
    public var key: String?
    /// How long a decision may wait for a slot in all (`max_wait`, default ten periods); past
    /// it the call is dead-lettered with that reason.
    public var maxWait: Duration?

    public init(tool: String? = nil, limit: Int, period: Duration, burst: Int = 1, key: String? = nil, maxWait: Duration? = nil) {
        self.tool = tool
        self.limit = limit
        self.period = period
        self.burst = burst
        self.key = key
        self.maxWait = maxWait
    }

    public var effectiveMaxWait: Duration { maxWait ?? period * 10 }

    func applies(to action: ActionRunner.Action) -> Bool { tool == nil || tool == action.tool }

    func key(of action: ActionRunner.Action) -> String {
        (tool ?? "*") + "|" + (key.flatMap { action.arguments[$0] ?? nil } ?? "")
    }
}

/// The limits of one agent and their counts.
public struct ActionLimits: Sendable {
    let limits: [ActionLimit]
    var counters: [GCRA<ContinuousClock.Instant>]

    public init(_ limits: [ActionLimit]) {
        self.limits = limits
        counters = limits.map { GCRA(limit: $0.limit, period: $0.period, burst: $0.burst) }
    }

    /// The longest a decision with these actions may wait for slots in all: the largest
    /// `max_wait` of the limits that apply.
    public func maxWait(for actions: [ActionRunner.Action]) -> Duration {
        limits.filter { limit in actions.contains { limit.applies(to: $0) } }.map(\.effectiveMaxWait).max() ?? .zero
    }

    /// A limit under which the decision's actions could never all take their slots at once:
    /// more of them fall on one key than its `burst` lets through together. Such a decision
    /// would wait until `max_wait` and fail; it fails at once instead, saying so.
    public func neverFits(_ actions: [ActionRunner.Action]) -> (limit: ActionLimit, count: Int)? {
        for limit in limits {
            var perKey: [String: Int] = [:]
            for action in actions where limit.applies(to: action) { perKey[limit.key(of: action), default: 0] += 1 }
            if let most = perKey.values.max(), most > limit.burst { return (limit, most) }
        }
        return nil
    }

    /// Takes a slot for each action under each limit that applies, all or none: when one is
    /// over, nothing is taken, and the wait until it would conform is returned.
    public mutating func take(_ actions: [ActionRunner.Action], now: ContinuousClock.Instant) -> Duration? {
        var trial = counters
        for action in actions {
            for (i, limit) in limits.enumerated() where limit.applies(to: action) {
                if let due = trial[i].take(limit.key(of: action), now: now) {
                    return max(now.duration(to: due), .milliseconds(1))
                }
            }
        }
        counters = trial
        if counters.contains(where: { $0.trackedKeys > 10_000 }) {
            for i in counters.indices { counters[i].prune(now: now) }
        }
        return nil
    }
}
