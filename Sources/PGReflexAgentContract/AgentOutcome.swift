public enum AgentOutcome: Sendable, Equatable {
    /// Done; `output` is the agent's answer (JSON), kept as its receipt when given.
    case success(output: [UInt8]?)
    case failure(AgentError)
}

extension AgentOutcome {
    /// The failure's error; nil on success.
    public var error: AgentError? {
        if case .failure(let error) = self { error } else { nil }
    }
}
