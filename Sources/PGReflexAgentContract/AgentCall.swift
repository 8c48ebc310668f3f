/// One call: the events, in commit order, with the key that makes the side effect idempotent
/// (the same on every retry and replay).
public struct AgentCall: Sendable {
    public var route: String
    public var events: [AgentEvent]
    /// `route:agent:value`, where the value is the first event's id by default, or the route's
    /// `idempotency` expression's value. Spelled out when read: fast agents never read it.
    public var idempotencyKey: String {
        get {
            switch key {
            case .given(let key): return key
            case .parts(let agent, let value): return Self.idempotencyKey(route: route, agent: agent, value: value)
            }
        }
        set { key = .given(newValue) }
    }
    /// 1 for the first attempt.
    public var attempt: Int
    /// How long this attempt may take (the route's `retries.timeout`).
    public var timeout: Duration?
    /// Ask the agent again even though the call has a recorded decision (`--redecide` on
    /// `dlq retry` and `replay`): the new decision's actions run under new keys.
    public var redecide = false

    enum Key: Sendable {
        case given(String)
        case parts(agent: String, value: String)
    }

    var key: Key

    public init(route: String, events: [AgentEvent], idempotencyKey: String, attempt: Int = 1, timeout: Duration? = nil) {
        self.route = route
        self.events = events
        self.key = .given(idempotencyKey)
        self.attempt = attempt
        self.timeout = timeout
    }

    /// The key made of the route, the agent and `idempotencyValue` (``idempotencyKey(route:agent:value:)``).
    public init(route: String, events: [AgentEvent], agent: String, idempotencyValue: String, attempt: Int = 1, timeout: Duration? = nil) {
        self.route = route
        self.events = events
        self.key = .parts(agent: agent, value: idempotencyValue)
        self.attempt = attempt
        self.timeout = timeout
    }

    /// One call's idempotency key: the same on every retry and replay of it.
    public static func idempotencyKey(route: String, agent: String, value: String) -> String {
        "\(route):\(agent):\(value)"
    }
}
