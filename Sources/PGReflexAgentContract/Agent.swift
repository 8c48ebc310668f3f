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

    /// True for agents that end every call by its `timeout` themselves (a webhook puts a deadline
    /// on its request): the dispatcher runs such a call as it is. False (the default): the
    /// dispatcher races the call against a timer, a task and a timer more per call.
    var endsCallsByTheirTimeout: Bool { get }

    /// Where this agent's next call runs best: a webhook's on one of the HTTP client's event
    /// loops, so its request and answer need no hop between threads. nil (the default): on the
    /// route's own thread. Only an agent whose calls never block may name one.
    var callExecutor: (any TaskExecutor)? { get }
}

extension Agent {
    public func receiptMark() -> Int64? { nil }
    public func receipts(since mark: Int64) throws -> Set<String> { [] }
    public var answersAtOnce: Bool { false }
    public var endsCallsByTheirTimeout: Bool { false }
    public var callExecutor: (any TaskExecutor)? { nil }
    public func handleAtOnce(_ calls: [AgentCall]) -> [AgentOutcome] {
        preconditionFailure("\(name) does not answer at once: its calls go through handle(_:)")
    }
}
