public enum AgentOutcome: Sendable, Equatable {
    /// Done; `output` is the agent's answer (JSON), kept as its receipt when given.
    case success(output: [UInt8]?)
    case failure(AgentError)
}
