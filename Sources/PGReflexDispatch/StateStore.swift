/// Where the dispatcher keeps what must survive a restart besides the journal: which (event,
/// route, agent) are done, each route consumer's cursor, and the dead-letter queue. Embedded
/// SQLite today (`SQLiteStateStore`); a shared PostgreSQL store comes with scale-out, so the
/// protocol is async and says nothing of SQLite.
public protocol StateStore: Sendable {
    /// Records outcomes and moves a cursor in one transaction: after a crash either both are
    /// there or neither is, so an agent's work is never recorded without its cursor, or the
    /// other way round.
    func commit(_ changes: StateCommit) async throws

    /// Which of these are recorded as done (a duplicate after a crash or a replay is skipped);
    /// with `since` (Unix microseconds), only those recorded at or after it.
    func done(among keys: [DoneKey], since: Int64?) async throws -> Set<DoneKey>

    /// The greatest event id recorded as done for a route's agent. Event ids sort in commit
    /// order, so no event after it can be a duplicate.
    func lastDone(route: String, agent: String) async throws -> String?

    /// The events in a route's open windows, oldest first.
    func windowEntries(route: String) async throws -> [WindowEntry]

    /// Skipped events (rate limit, shedding, idempotency, agents' changes), counted per route and
    /// reason since the route began.
    func skipCounts(route: String?) async throws -> [SkipCount]

    func cursor(_ consumer: String) async throws -> StoredCursor?

    /// Entries in the dead-letter queue, by route.
    func deadLetterCounts() async throws -> [String: Int]

    func deadLetters(_ filter: DeadLetterFilter) async throws -> [DeadLetter]

    /// What agents answered (their outcome JSON), newest last.
    func results(_ filter: AgentResultFilter) async throws -> [AgentResult]

    /// Removes a dead letter (after `dlq drop`, or once `dlq retry` succeeded); false when
    /// there was none with that id.
    func removeDeadLetter(id: Int64) async throws -> Bool

    /// Forgets a route's agent's done records no replay or restart can ask about: events
    /// committed before `commitLSN` (the journal no longer holds them), and idempotency keys
    /// recorded before `keysBefore` (Unix microseconds; past the route's idempotency period).
    /// Returns how many (a duplicate recorded again counts again).
    func pruneDone(route: String, agent: String, before commitLSN: UInt64, keysBefore: Int64) async throws -> Int

    /// Folds a route's records of skipped events committed before `commitLSN` (the journal no
    /// longer holds them) into its counts per reason; `skipCounts` stays the same. Returns how
    /// many records were folded.
    func pruneSkips(route: String, before commitLSN: UInt64) async throws -> Int
}

/// What one transaction of the state store records.
public struct StateCommit: Sendable {
    public var done: [DoneKey]
    public var deadLetters: [DeadLetter]
    public var skips: [Skip]
    /// Dead letters to remove (a `dlq retry` that succeeded).
    public var removedDeadLetters: [Int64]
    /// Events that entered an open window: the cursor may pass them, the store keeps them.
    public var windowAdded: [WindowEntry]
    /// Events that left their window (it fired, or they fell out of its period).
    public var windowRemoved: [(route: String, eventID: String)]
    /// Outcomes agents returned, kept as receipts.
    public var results: [AgentResult]
    public var cursor: StoredCursor?

    public init(done: [DoneKey] = [], deadLetters: [DeadLetter] = [], skips: [Skip] = [], removedDeadLetters: [Int64] = [],
                windowAdded: [WindowEntry] = [], windowRemoved: [(route: String, eventID: String)] = [], results: [AgentResult] = [],
                cursor: StoredCursor? = nil) {
        self.done = done
        self.results = results
        self.deadLetters = deadLetters
        self.skips = skips
        self.removedDeadLetters = removedDeadLetters
        self.windowAdded = windowAdded
        self.windowRemoved = windowRemoved
        self.cursor = cursor
    }

    public var isEmpty: Bool {
        done.isEmpty && deadLetters.isEmpty && skips.isEmpty && removedDeadLetters.isEmpty && windowAdded.isEmpty && windowRemoved.isEmpty
            && results.isEmpty && cursor == nil
    }
}

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

/// An event an agent could not handle: kept with everything needed to look at it and to run it
/// again with the same idempotency key. The envelope is already privacy-safe.
public struct DeadLetter: Sendable, Equatable {
    /// Assigned by the store.
    public var id: Int64?
    public var eventID: String
    public var route: String
    public var agent: String
    /// `schema.table`, or empty for a logical message.
    public var table: String
    public var envelope: [UInt8]
    /// `retryable_exhausted`, `permanent`, `timeout`, …
    public var errorClass: String
    public var message: String
    public var attempts: Int
    /// Unix microseconds.
    public var firstAttempt: Int64
    public var lastAttempt: Int64

    public init(id: Int64? = nil, eventID: String, route: String, agent: String, table: String, envelope: [UInt8],
                errorClass: String, message: String, attempts: Int, firstAttempt: Int64, lastAttempt: Int64) {
        self.id = id
        self.eventID = eventID
        self.route = route
        self.agent = agent
        self.table = table
        self.envelope = envelope
        self.errorClass = errorClass
        self.message = message
        self.attempts = attempts
        self.firstAttempt = firstAttempt
        self.lastAttempt = lastAttempt
    }
}

/// `dlq list` filters; nil matches everything.
public struct DeadLetterFilter: Sendable, Equatable {
    public var id: Int64?
    public var route: String?
    public var agent: String?
    public var table: String?
    /// Last attempt at or after / before, Unix microseconds.
    public var since: Int64?
    public var until: Int64?
    public var limit: Int?

    public init(id: Int64? = nil, route: String? = nil, agent: String? = nil, table: String? = nil, since: Int64? = nil,
                until: Int64? = nil, limit: Int? = nil) {
        self.id = id
        self.route = route
        self.agent = agent
        self.table = table
        self.since = since
        self.until = until
        self.limit = limit
    }
}

/// An agent's answer to one call: the outcome JSON it returned (a webhook's response body, an
/// `exec` command's stdout, an LLM agent's decision), with the call it answered.
public struct AgentResult: Sendable, Equatable {
    /// Assigned by the store.
    public var id: Int64?
    public var route: String
    public var agent: String
    /// The call's first event; `eventCount` > 1 for a batch.
    public var eventID: String
    public var eventCount: Int
    public var idempotencyKey: String
    public var attempt: Int
    public var output: [UInt8]
    /// Unix microseconds.
    public var at: Int64
    /// How long the call took (this attempt), microseconds.
    public var durationMicros: Int64

    public init(id: Int64? = nil, route: String, agent: String, eventID: String, eventCount: Int, idempotencyKey: String,
                attempt: Int, output: [UInt8], at: Int64, durationMicros: Int64 = 0) {
        self.durationMicros = durationMicros
        self.id = id
        self.route = route
        self.agent = agent
        self.eventID = eventID
        self.eventCount = eventCount
        self.idempotencyKey = idempotencyKey
        self.attempt = attempt
        self.output = output
        self.at = at
    }
}

/// `results list` filters; nil matches everything.
public struct AgentResultFilter: Sendable, Equatable {
    public var id: Int64?
    public var route: String?
    public var agent: String?
    public var eventID: String?
    /// At or after / before, Unix microseconds.
    public var since: Int64?
    public var until: Int64?
    public var limit: Int?

    public init(id: Int64? = nil, route: String? = nil, agent: String? = nil, eventID: String? = nil, since: Int64? = nil,
                until: Int64? = nil, limit: Int? = nil) {
        self.id = id
        self.route = route
        self.agent = agent
        self.eventID = eventID
        self.since = since
        self.until = until
        self.limit = limit
    }
}
