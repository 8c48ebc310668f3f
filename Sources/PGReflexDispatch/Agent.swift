#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// True for agents whose calls finish on the caller's thread without waiting on anything
    /// (`noop`, `log`, `file`): the dispatcher calls ``handleAtOnce(_:)``. False (the default):
    /// the calls run as tasks through ``handle(_:)``, each under its timeout.
    var answersAtOnce: Bool { get }

    /// For agents that answer at once: the dispatcher hands over every call it can start at
    /// once, in order, and takes one outcome per call, in the same order, with no task,
    /// executor hop or timer per call (a `file` agent writes them all and syncs once; no
    /// timeout could cut such a call short anyway).
    func handleAtOnce(_ calls: [AgentCall]) -> [AgentOutcome]
}

extension Agent {
    public func receiptMark() -> Int64? { nil }
    public func receipts(since mark: Int64) throws -> Set<String> { [] }
    public var answersAtOnce: Bool { false }
    public func handleAtOnce(_ calls: [AgentCall]) -> [AgentOutcome] {
        preconditionFailure("\(name) does not answer at once: its calls go through handle(_:)")
    }
}

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

/// An event as an agent gets it: its id, what it is, and its envelope (privacy-safe JSON).
/// What never changes is one shared object: the dispatcher hands an event from stage to stage
/// and into a call by reference, never field by field.
public struct AgentEvent: Sendable, Equatable {
    public final class Body: Sendable {
        public let id: String
        public let table: String
        public let op: String
        public let envelope: [UInt8]
        /// The commit time, Unix microseconds (0: unknown).
        public let commitTime: Int64

        public init(id: String, table: String, op: String, envelope: [UInt8], commitTime: Int64) {
            self.id = id
            self.table = table
            self.op = op
            self.envelope = envelope
            self.commitTime = commitTime
        }
    }

    public let body: Body
    /// How many agents' actions lie behind this change (0: a change nobody's agent made).
    public var depth: Int

    public var id: String { body.id }
    public var table: String { body.table }
    public var op: String { body.op }
    public var envelope: [UInt8] { body.envelope }
    /// The commit time, Unix microseconds (0: unknown).
    public var commitTime: Int64 { body.commitTime }

    public init(id: String, table: String, op: String, envelope: [UInt8], commitTime: Int64 = 0, depth: Int = 0) {
        self.init(body: Body(id: id, table: table, op: op, envelope: envelope, commitTime: commitTime), depth: depth)
    }

    public init(body: Body, depth: Int = 0) {
        self.body = body
        self.depth = depth
    }

    public static func == (a: AgentEvent, b: AgentEvent) -> Bool {
        a.depth == b.depth && (a.body === b.body || (a.id == b.id && a.table == b.table && a.op == b.op && a.envelope == b.envelope
                                                      && a.commitTime == b.commitTime))
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

/// The loop guard's bookkeeping. A write an agent's action makes is committed under the
/// replication origin `pgreflex:<depth>:<agent>`, depth being one more than that of the change
/// that caused it; capture writes the origin into the envelope's `source.origin`. Where the
/// role may not use origins, the same transaction starts with a logical message tag (prefix
/// `pgreflex.causation`, content `{"depth": n, "agent": "…"}`) instead. Routes then know who
/// caused a change and how deep the chain is.
public enum AgentCausation {
    public static let maxDepth = 3
    public static let tagPrefix = "pgreflex.causation"

    public struct Cause: Sendable, Equatable {
        public var depth: Int
        public var agent: String

        public init(depth: Int, agent: String) {
            self.depth = depth
            self.agent = agent
        }

        public var origin: String { "pgreflex:\(depth):\(agent)" }

        /// The tag's content.
        public var tag: String { #"{"agent":"\#(agent)","depth":\#(depth)}"# }
    }

    /// The cause an origin stands for: nil for no origin or another system's.
    public static func cause(origin: String?) -> Cause? {
        guard let origin, origin.hasPrefix("pgreflex:") else { return nil }
        let parts = origin.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let depth = Int(parts[1]), depth > 0 else { return nil }
        return Cause(depth: depth, agent: String(parts[2]))
    }

    /// Whether an envelope may carry our origin or our tag: a byte search, so only the changes
    /// agents made are parsed.
    public static func mayCarryCause(_ envelope: [UInt8]) -> Bool {
        contains(envelope, #""origin":"pgreflex:"#) || contains(envelope, #""prefix":"pgreflex.causation""#)
    }

    static func contains(_ envelope: [UInt8], _ text: StaticString) -> Bool {
        // memchr to each 'x' (rare in envelopes, unlike '"'), then memcmp around it: every routed
        // envelope is searched. (Glibc's module does not export memmem.)
        let n = text.utf8CodeUnitCount
        let needle = UnsafeBufferPointer(start: text.utf8Start, count: n)
        let anchor = needle.firstIndex(of: UInt8(ascii: "x"))!
        return envelope.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count >= n else { return false }
            var at = base + anchor
            let end = base + (bytes.count - n + anchor + 1)
            while at < end {
                guard let hit = memchr(at, Int32(UInt8(ascii: "x")), end - at) else { return false }
                if memcmp(UnsafeRawPointer(hit) - anchor, text.utf8Start, n) == 0 { return true }
                at = UnsafeRawPointer(hit) + 1
            }
            return false
        }
    }
}
