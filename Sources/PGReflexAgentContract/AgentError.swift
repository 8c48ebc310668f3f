/// Why a call failed, classified for the dispatcher's retry rules.
public struct AgentError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable, CaseIterable {
        /// Worth trying again (5xx, a connection failure, EX_TEMPFAIL).
        case temporary
        /// Over the agent's capacity (429, 502, 504): try again, no sooner than `retryAfter`.
        case throttled
        /// The attempt took longer than its timeout.
        case timeout
        /// Trying again cannot help (other 4xx, output that fails validation, bad credentials):
        /// straight to the dead-letter queue.
        case permanent
        /// The agent asked to be turned off (410 Gone): its route pauses; events wait.
        case disabled
        /// The agent's decision waits for its own action limit: tried again after `retryAfter`,
        /// spending no attempt, no timeout and no circuit-breaker count (as a throttled event
        /// waits). The agent bounds the wait itself (`action_limits[].max_wait`).
        case deferred
    }

    public var code: Code
    public var message: String
    public var retryAfter: Duration?

    public init(code: Code, message: String, retryAfter: Duration? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var isRetryable: Bool {
        switch code {
        case .temporary, .throttled, .timeout: true
        case .permanent, .disabled, .deferred: false
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
