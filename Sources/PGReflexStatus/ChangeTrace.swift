/// What happened to one change, from its commit to its receipts (`event show`, and the status
/// page's page per change): its place in the journal and its envelope (after privacy, as
/// journaled), then for every route its verdict, the flow control it went through, each call
/// with its attempts, decision, actions and receipts, any dead letter, and the time each stage
/// took. Built by `RunConfiguration.changeTraces` from the journal and the state store.
public struct ChangeTrace: Sendable, Equatable {
    /// Where the journal holds the change.
    public struct Place: Sendable, Equatable {
        public var segment: String
        public var offset: Int
        public var commitLSN: UInt64
        public var ordinal: Int
        public var xid: UInt32
        /// Unix microseconds; 0 when unknown.
        public var commitTime: Int64
        /// When capture journaled it, Unix microseconds; 0 when the journal did not say (format 3
        /// and older).
        public var journaledAt: Int64
        public var schemaVersion: Int?

        public init(segment: String, offset: Int, commitLSN: UInt64, ordinal: Int, xid: UInt32, commitTime: Int64, journaledAt: Int64,
                    schemaVersion: Int?) {
            self.segment = segment
            self.offset = offset
            self.commitLSN = commitLSN
            self.ordinal = ordinal
            self.xid = xid
            self.commitTime = commitTime
            self.journaledAt = journaledAt
            self.schemaVersion = schemaVersion
        }
    }

    /// A flow-control step: `debounced` (into `detail`, a later event), `window` (key),
    /// `left_window`, `throttled` (until `detail`), `held` (schema version), or a skip
    /// (`rate_limit`, `shed`, `idempotency`, `agent_change`, `loop_guard`), or `duplicate`.
    public struct Step: Sendable, Equatable {
        public var kind: String
        public var detail: String
        /// Unix microseconds.
        public var at: Int64

        public init(kind: String, detail: String, at: Int64) {
            self.kind = kind
            self.detail = detail
            self.at = at
        }
    }

    public struct Attempt: Sendable, Equatable {
        public var number: Int
        /// Unix microseconds: when the route read the call's first event, and when the attempt started.
        public var readAt: Int64
        public var startedAt: Int64
        public var micros: Int64
        /// `succeeded`, `retrying`, `dead_lettered`, `deferred`, `paused`, `stopped`.
        public var outcome: String
        public var error: String?

        public init(number: Int, readAt: Int64, startedAt: Int64, micros: Int64, outcome: String, error: String?) {
            self.number = number
            self.readAt = readAt
            self.startedAt = startedAt
            self.micros = micros
            self.outcome = outcome
            self.error = error
        }
    }

    /// One action a decision took, with its receipt (from the agent's kept outcome).
    public struct Action: Sendable, Equatable {
        public var index: Int
        public var tool: String
        public var idempotencyKey: String
        public var status: String
        /// The receipt's result, as JSON text.
        public var result: String?

        public init(index: Int, tool: String, idempotencyKey: String, status: String, result: String?) {
            self.index = index
            self.tool = tool
            self.idempotencyKey = idempotencyKey
            self.status = status
            self.result = result
        }
    }

    public struct Call: Sendable, Equatable {
        public var idempotencyKey: String
        /// The call's events in order (more than one for a batch or window).
        public var events: [String]
        public var attempts: [Attempt]
        /// What the agent answered (its kept outcome JSON, without its receipts); nil when it
        /// returned nothing or never succeeded.
        public var decision: String?
        public var actions: [Action]

        public init(idempotencyKey: String, events: [String], attempts: [Attempt], decision: String?, actions: [Action]) {
            self.idempotencyKey = idempotencyKey
            self.events = events
            self.attempts = attempts
            self.decision = decision
            self.actions = actions
        }
    }

    public struct DeadLetterReference: Sendable, Equatable {
        public var id: Int64
        public var errorClass: String
        public var message: String
        public var attempts: Int

        public init(id: Int64, errorClass: String, message: String, attempts: Int) {
            self.id = id
            self.errorClass = errorClass
            self.message = message
            self.attempts = attempts
        }
    }

    /// One route's part.
    public struct Route: Sendable, Equatable {
        public var name: String
        public var agent: String
        /// Whether the route's tests pass the change (`matches`), judged by the configuration
        /// given; nil for a route no longer in it.
        public var matches: Bool?
        /// The test that said no (table, op, columns, the condition), or `matches`.
        public var reason: String
        /// The `if` condition's value (`true`, `false`) or its error; nil without a condition
        /// or when an earlier test said no.
        public var condition: String?
        public var steps: [Step]
        public var calls: [Call]
        public var deadLetter: DeadLetterReference?
        /// `done`, `dead_lettered`, `skipped`, `filtered`, `waiting` (read, not finished),
        /// `not_read` (after the route's cursor), or `handled` (the route passed it with no
        /// record left, as for a change before traces were kept).
        public var state: String

        public init(name: String, agent: String, matches: Bool?, reason: String, condition: String?, steps: [Step], calls: [Call],
                    deadLetter: DeadLetterReference?, state: String) {
            self.name = name
            self.agent = agent
            self.matches = matches
            self.reason = reason
            self.condition = condition
            self.steps = steps
            self.calls = calls
            self.deadLetter = deadLetter
            self.state = state
        }

        /// The stages after the journal, Unix microseconds: read, first call start, last outcome.
        public var readAt: Int64? { calls.first?.attempts.first.map(\.readAt).flatMap { $0 > 0 ? $0 : nil } }
        public var callStartedAt: Int64? { calls.first?.attempts.first?.startedAt }
        public var outcomeAt: Int64? { calls.last?.attempts.last.map { $0.startedAt + $0.micros } }
    }

    public var id: String
    /// `schema.table`, or empty for a logical message.
    public var table: String
    public var op: String
    /// The key as the envelope writes it (JSON), or nil.
    public var key: String?
    public var place: Place
    /// The envelope as journaled (after privacy).
    public var envelope: [UInt8]
    public var routes: [Route]

    public init(id: String, table: String, op: String, key: String?, place: Place, envelope: [UInt8], routes: [Route]) {
        self.id = id
        self.table = table
        self.op = op
        self.key = key
        self.place = place
        self.envelope = envelope
        self.routes = routes
    }
}
