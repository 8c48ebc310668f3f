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
