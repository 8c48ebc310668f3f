/// What every agent is to the dispatcher: an event (or a batch) goes in; an outcome, or an
/// error that says whether and when to try again, comes out. Webhooks, subprocesses and LLM
/// calls (the agents issue) fit the same shape as the built-in `file`, `log` and `noop`.
public protocol Agent: Sendable {
    var name: String { get }
    func handle(_ call: AgentCall) async -> AgentOutcome

    /// Where the agent's own record of what it did stands now (a file agent: its file's size);
    /// nil for an agent that keeps none. The dispatcher saves it with its cursor.
    func receiptMark() -> Int64?

    /// The ids of the events whose effect the agent recorded after `mark`. After a crash, such
    /// an event took effect though its done record was lost: it is not run again.
    func receipts(since mark: Int64) throws -> Set<String>
}

extension Agent {
    public func receiptMark() -> Int64? { nil }
    public func receipts(since mark: Int64) throws -> Set<String> { [] }
}

/// One call: the events, in commit order, with the key that makes the side effect idempotent
/// (the same on every retry and replay).
public struct AgentCall: Sendable {
    public var route: String
    public var events: [AgentEvent]
    /// `route:agent:first-event-id` by default, or the route's `idempotency` expression's value.
    public var idempotencyKey: String
    /// 1 for the first attempt.
    public var attempt: Int
    /// How long this attempt may take (the route's `retries.timeout`).
    public var timeout: Duration?

    public init(route: String, events: [AgentEvent], idempotencyKey: String, attempt: Int = 1, timeout: Duration? = nil) {
        self.route = route
        self.events = events
        self.idempotencyKey = idempotencyKey
        self.attempt = attempt
        self.timeout = timeout
    }
}

/// An event as an agent gets it: its id, what it is, and its envelope (privacy-safe JSON).
public struct AgentEvent: Sendable, Equatable {
    public var id: String
    public var table: String
    public var op: String
    public var envelope: [UInt8]
    /// The commit time, Unix microseconds (0: unknown).
    public var commitTime: Int64
    /// How many agents' actions lie behind this change (0: a change nobody's agent made).
    public var depth: Int

    public init(id: String, table: String, op: String, envelope: [UInt8], commitTime: Int64 = 0, depth: Int = 0) {
        self.id = id
        self.table = table
        self.op = op
        self.envelope = envelope
        self.commitTime = commitTime
        self.depth = depth
    }
}

public enum AgentOutcome: Sendable, Equatable {
    /// Done; `output` is the agent's answer (JSON), kept as its receipt when given.
    case success(output: [UInt8]?)
    case failure(AgentError)
}

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
        case .permanent, .disabled: false
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The loop guard's bookkeeping. A write an agent's action makes is committed under the
/// replication origin `pgreflex_d<n>`, n being one more than the depth of the change that
/// caused it; capture writes the origin into the envelope's `source.origin`, so the next
/// route knows how deep the chain is. Routes skip such changes unless they allow them, and
/// never go past `maxDepth`.
public enum AgentCausation {
    public static let maxDepth = 3
    static let prefix = "pgreflex_d"

    public static func origin(depth: Int) -> String { prefix + String(depth) }

    /// The depth an origin stands for: 0 for no origin or another system's.
    public static func depth(origin: String?) -> Int {
        guard let origin, origin.hasPrefix(prefix), let n = Int(origin.dropFirst(prefix.count)), n > 0 else { return 0 }
        return n
    }

    /// Whether an envelope may carry one of our origins: a byte search, so the envelope is
    /// parsed only for the changes agents made.
    public static func mayCarryOrigin(_ envelope: [UInt8]) -> Bool {
        let needle: [UInt8] = Array(#""origin":"pgreflex_d"#.utf8)
        let n = needle.count
        return envelope.withUnsafeBufferPointer { bytes in
            guard bytes.count >= n else { return false }
            for i in 0...(bytes.count - n) where bytes[i] == needle[0] {
                var j = 1
                while j < n && bytes[i + j] == needle[j] { j += 1 }
                if j == n { return true }
            }
            return false
        }
    }
}
