/// A decision an acting agent made (an LLM's, or an `exec` command's stdout): recorded before
/// any of its actions runs, so that every later attempt of the call (a retry, a restart after a
/// crash, `dlq retry`, a forced replay) carries out this decision rather than asking again.
public struct AgentDecision: Sendable, Equatable {
    /// The call's idempotency key.
    public var callKey: String
    /// 1 for the first; `--redecide` asks again on purpose and records the next, whose actions
    /// run under new keys (`<call key>:d<n>:<i>`).
    public var number: Int
    public var route: String
    public var agent: String
    /// The call's (first) event.
    public var eventID: String
    /// The answer as the agent gave it (JSON): its actions with their arguments, and what the
    /// agent adds (an LLM's model, usage and prompt hash).
    public var output: [UInt8]
    /// Unix microseconds.
    public var at: Int64

    public init(callKey: String, number: Int, route: String, agent: String, eventID: String, output: [UInt8], at: Int64) {
        self.callKey = callKey
        self.number = number
        self.route = route
        self.agent = agent
        self.eventID = eventID
        self.output = output
        self.at = at
    }

    /// The prefix of a decision's actions' keys: the call's key for the first decision (the keys
    /// actions always had), `<key>:d<n>` for a later one.
    public static func actionKeyPrefix(callKey: String, number: Int) -> String {
        number == 1 ? callKey : "\(callKey):d\(number)"
    }
}

/// Where acting agents keep their decisions: durably, before acting (the state store).
public protocol DecisionLog: Sendable {
    /// The call's latest decision, or nil.
    func decision(callKey: String) async throws -> AgentDecision?
    /// Records `decision` durably, unless the call already has one with its number: then that
    /// one is returned and is the one to carry out (two processes decided at once).
    func record(_ decision: AgentDecision) async throws -> AgentDecision
}
