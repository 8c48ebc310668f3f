public import PGReflexDispatch
public import PGReflexWire

/// One route as configured: what it matches (``Route``), the agent it wakes, and its flow
/// control, with Inngest's names. Each route is a journal consumer of its own (`route:<name>`),
/// with its cursor in the state store.
public struct RouteSettings: Sendable {
    public struct Concurrency: Sendable {
        /// Calls running at once.
        public var limit: Int
        /// With a key: at most `limit` per value of it.
        public var key: CELExpression?

        public init(limit: Int = 10, key: CELExpression? = nil) {
            self.limit = limit
            self.key = key
        }
    }

    /// `throttle` (events wait) and `rate_limit` (events are skipped) share this shape.
    public struct Rate: Sendable {
        public var limit: Int
        public var period: Duration
        public var burst: Int
        public var key: CELExpression?

        public init(limit: Int, period: Duration, burst: Int = 1, key: CELExpression? = nil) {
            self.limit = limit
            self.period = period
            self.burst = burst
            self.key = key
        }
    }

    public struct DebounceSettings: Sendable {
        public var period: Duration
        public var key: CELExpression?
        public var timeout: Duration?

        public init(period: Duration, key: CELExpression? = nil, timeout: Duration? = nil) {
            self.period = period
            self.key = key
            self.timeout = timeout
        }
    }

    public struct BatchSettings: Sendable {
        public var maxSize: Int
        public var timeout: Duration
        public var key: CELExpression?

        public init(maxSize: Int, timeout: Duration, key: CELExpression? = nil) {
            self.maxSize = maxSize
            self.timeout = timeout
            self.key = key
        }
    }

    public struct WindowSettings: Sendable {
        public var count: Int
        public var period: Duration
        public var key: CELExpression?

        public init(count: Int, period: Duration, key: CELExpression? = nil) {
            self.count = count
            self.period = period
            self.key = key
        }
    }

    public struct Idempotency: Sendable {
        public var key: CELExpression
        public var period: Duration

        public init(key: CELExpression, period: Duration = .seconds(86_400)) {
            self.key = key
            self.period = period
        }
    }

    public struct Shed: Sendable {
        public enum Action: String, Sendable, CaseIterable {
            /// Skip (record and count) the events that are older than `lagOver`.
            case skip
            /// Hold the route's calls while capture works through a backlog older than `lagOver`.
            case pause
        }

        public var lagOver: Duration
        public var action: Action

        public init(lagOver: Duration, action: Action) {
            self.lagOver = lagOver
            self.action = action
        }
    }

    public var route: Route
    /// The `agents:` entry this route wakes.
    public var agent: String
    /// Where the route begins without a cursor: `latest` unless configured.
    public var start: StartPosition
    /// The ordering key: one call at a time per value, in commit order. nil: the table's
    /// primary key.
    public var key: CELExpression?
    public var concurrency: Concurrency
    public var throttle: Rate?
    public var rateLimit: Rate?
    public var debounce: DebounceSettings?
    public var batch: BatchSettings?
    /// `priority.run`: an integer; higher runs first among events free to start.
    public var priority: CELExpression?
    public var idempotency: Idempotency?
    public var window: WindowSettings?
    /// `schema_versions`: per table, the versions the route accepts; others are held.
    public var schemaVersions: [String: Set<Int>]
    public var shed: Shed?
    public var retry: RetryPolicy
    /// How long one attempt may take.
    public var timeout: Duration
    /// Events read but not yet handled, at most: the route reads the journal no faster.
    public var maxBufferedEvents: Int
    /// Whether changes agents' actions made wake this route (``AgentCausation``).
    public enum AgentChanges: String, Sendable, CaseIterable {
        /// The default: all but those the route's own agent made.
        case others
        /// None.
        case skip
        /// All, the route's own agent's too.
        case allow
    }

    /// `agent_changes`; whichever, a chain stops at ``AgentCausation/maxDepth``.
    public var agentChanges = AgentChanges.others

    /// Whether an expression besides the condition reads the event's values (a key, the
    /// idempotency value, a priority): then every matched event is parsed, once.
    public var readsEventValues: Bool {
        key != nil || idempotency != nil || priority != nil || concurrency.key != nil || throttle?.key != nil || rateLimit?.key != nil
            || debounce?.key != nil || batch?.key != nil || window?.key != nil
    }

    /// Whether the route reads matched or candidate events' values at all (its condition, its
    /// changed columns, or another expression): routes that do share one parse per event.
    public var readsValues: Bool {
        route.condition != nil || !route.columnsChanged.isEmpty || readsEventValues
    }

    public init(route: Route, agent: String, start: StartPosition = .latest, key: CELExpression? = nil,
                concurrency: Concurrency = .init(), throttle: Rate? = nil, rateLimit: Rate? = nil,
                debounce: DebounceSettings? = nil, batch: BatchSettings? = nil, priority: CELExpression? = nil,
                idempotency: Idempotency? = nil, window: WindowSettings? = nil, schemaVersions: [String: Set<Int>] = [:],
                shed: Shed? = nil, retry: RetryPolicy = .init(), timeout: Duration = .seconds(30), maxBufferedEvents: Int = 10_000) {
        self.route = route
        self.agent = agent
        self.start = start
        self.key = key
        self.concurrency = concurrency
        self.throttle = throttle
        self.rateLimit = rateLimit
        self.debounce = debounce
        self.batch = batch
        self.priority = priority
        self.idempotency = idempotency
        self.window = window
        self.schemaVersions = schemaVersions
        self.shed = shed
        self.retry = retry
        self.timeout = timeout
        self.maxBufferedEvents = maxBufferedEvents
    }

    public var name: String { route.name }

    /// The route's cursor in the state store.
    public var consumerName: String { "route:" + route.name }
}
