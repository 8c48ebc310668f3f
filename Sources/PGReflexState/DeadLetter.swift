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
    public var eventID: String?
    /// The newest first (and `limit` keeps the newest).
    public var newestFirst = false
    /// Last attempt at or after / before, Unix microseconds.
    public var since: Int64?
    public var until: Int64?
    public var limit: Int?

    public init(id: Int64? = nil, route: String? = nil, agent: String? = nil, table: String? = nil, eventID: String? = nil,
                newestFirst: Bool = false, since: Int64? = nil, until: Int64? = nil, limit: Int? = nil) {
        self.eventID = eventID
        self.newestFirst = newestFirst
        self.id = id
        self.route = route
        self.agent = agent
        self.table = table
        self.since = since
        self.until = until
        self.limit = limit
    }
}
