/// Where the dispatcher keeps what must survive a restart besides the journal: which (event,
/// route, agent) are done, each route consumer's cursor, and the dead-letter queue. Embedded
/// SQLite today (`SQLiteStateStore`); a shared PostgreSQL store comes with scale-out, so the
/// protocol is async and says nothing of SQLite.
public protocol StateStore: Sendable {
    /// Records outcomes and moves a cursor in one transaction: after a crash either both are
    /// there or neither is, so an agent's work is never recorded without its cursor, or the
    /// other way round.
    func commit(done: [DoneKey], deadLetters: [DeadLetter], cursor: StoredCursor?) async throws

    /// Which of these are recorded as done (a duplicate after a crash or a replay is skipped).
    func done(among keys: [DoneKey]) async throws -> Set<DoneKey>

    func cursor(_ consumer: String) async throws -> StoredCursor?

    func deadLetters(_ filter: DeadLetterFilter) async throws -> [DeadLetter]

    /// Removes a dead letter (after `dlq drop`, or once `dlq retry` succeeded); false when
    /// there was none with that id.
    func removeDeadLetter(id: Int64) async throws -> Bool

    /// Forgets done records older than `micros` (Unix microseconds), beyond any replay window.
    func pruneDone(before micros: Int64) async throws -> Int
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

    public init(consumer: String, commitLSN: UInt64, ordinal: Int) {
        self.consumer = consumer
        self.commitLSN = commitLSN
        self.ordinal = ordinal
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
    /// `retryable_exhausted`, `non_retryable`, `timeout`, …
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
