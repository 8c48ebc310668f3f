/// An event waiting in a route's open window (`window:`), kept so the window outlives a
/// restart while the route's cursor moves on.
public struct WindowEntry: Sendable, Equatable {
    public var route: String
    public var key: String
    public var eventID: String
    public var table: String
    public var op: String
    /// The event's commit time, Unix microseconds: the window's clock.
    public var at: Int64
    public var envelope: [UInt8]

    public init(route: String, key: String, eventID: String, table: String, op: String, at: Int64, envelope: [UInt8]) {
        self.route = route
        self.key = key
        self.eventID = eventID
        self.table = table
        self.op = op
        self.at = at
        self.envelope = envelope
    }
}

/// An event a route decided not to run, on purpose: never silent, always recorded.
public struct Skip: Sendable, Equatable {
    public enum Reason: String, Sendable, CaseIterable {
        /// Over `rate_limit`.
        case rateLimit = "rate_limit"
        /// `shed: {action: skip}` while the route lagged.
        case shed
        /// `idempotency`: its key ran within the period.
        case idempotency
        /// A change an agent's action made (`agent_changes: skip`, the default).
        case agentChange = "agent_change"
        /// A change at the end of a chain of agents' actions `AgentCausation.maxDepth` long:
        /// agents waking agents stop there.
        case loopGuard = "loop_guard"
    }

    public var eventID: String
    public var route: String
    public var table: String
    public var reason: Reason
    /// Unix microseconds.
    public var at: Int64

    public init(eventID: String, route: String, table: String, reason: Reason, at: Int64) {
        self.eventID = eventID
        self.route = route
        self.table = table
        self.reason = reason
        self.at = at
    }
}

public struct SkipCount: Sendable, Equatable {
    public var route: String
    public var reason: String
    public var count: Int
    /// The last skip, Unix microseconds.
    public var last: Int64

    public init(route: String, reason: String, count: Int, last: Int64) {
        self.route = route
        self.reason = reason
        self.count = count
        self.last = last
    }
}

/// One agent's run of one event for one route: the idempotency key.
public struct DoneKey: Sendable, Hashable {
    public var eventID: String
    public var route: String
    public var agent: String

    public init(eventID: String, route: String, agent: String) {
        self.eventID = eventID
        self.route = route
        self.agent = agent
    }
}

/// A route consumer's position in the journal: everything up to it is handled.
public struct StoredCursor: Sendable, Equatable {
    public var consumer: String
    public var commitLSN: UInt64
    public var ordinal: Int
    /// Where the agent's receipts stood when every call before it was recorded (a file
    /// agent's size): after a crash, receipts past it tell which calls took effect.
    public var agentMark: Int64?

    public init(consumer: String, commitLSN: UInt64, ordinal: Int, agentMark: Int64? = nil) {
        self.consumer = consumer
        self.commitLSN = commitLSN
        self.ordinal = ordinal
        self.agentMark = agentMark
    }
}
