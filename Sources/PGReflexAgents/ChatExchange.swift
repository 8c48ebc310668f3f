public import PGReflexAgentContract

/// What stands between an LLM agent and its model: `trace record` keeps each request and the
/// model's reply, and `trace verify` answers from what it kept, with no model and no network.
public protocol ChatExchange: Sendable {
    /// The reply's body (a chat completion, as JSON) to `request` (the request's JSON, keys
    /// sorted), made for `call`: from `send` (the model) or from a recording.
    func exchange(call: AgentCall, request: [UInt8], send: @Sendable () async -> Result<[UInt8], AgentError>) async -> Result<[UInt8], AgentError>
}
