import Foundation
public import PGReflexAgentContract
public import PGReflexTools
import Synchronization

/// Any agent whose outcome names `actions`: after it answers, its actions run through the
/// tools (``ActionRunner``), each once under `<call key>:<index>`, and their receipts join the
/// outcome. When an action fails and the call is tried again, the answer already given is
/// used again rather than asked for anew (in this process), so the retry carries out the same
/// decision.
public final class ActingAgent: Agent {
    let inner: any Agent
    let runner: ActionRunner
    let allowed: [String]
    /// Answers whose actions have not all run yet, by call key.
    private let pending = Mutex<[String: [UInt8]]>([:])
    private let limits: Mutex<ActionLimits>
    /// When each call's decision first waited for an action slot, by call key.
    private let waitingSince = Mutex<[String: ContinuousClock.Instant]>([:])
    static let pendingLimit = 10_000

    public init(_ inner: any Agent, runner: ActionRunner, allowed: [String], limits: [ActionLimit] = []) {
        self.inner = inner
        self.runner = runner
        self.allowed = allowed
        self.limits = Mutex(ActionLimits(limits))
    }

    public var name: String { inner.name }
    public func receiptMark() -> Int64? { inner.receiptMark() }
    public func receipts(since mark: Int64) throws -> Set<String> { try inner.receipts(since: mark) }
    /// With no actions allowed no tool ever runs, so the call takes as long as the inner agent's.
    public var endsCallsByTheirTimeout: Bool { allowed.isEmpty && inner.endsCallsByTheirTimeout }
    /// Tools may block (a database's client on its thread): only without actions does a call
    /// run where the inner agent's would.
    public var callExecutor: (any TaskExecutor)? { allowed.isEmpty ? inner.callExecutor : nil }

    public func handle(_ call: AgentCall) async -> AgentOutcome {
        let output: [UInt8]
        if let earlier = pending.withLock({ $0[call.idempotencyKey] }) {
            output = earlier
        } else {
            let outcome = await inner.handle(call)
            guard case .success(let answer?) = outcome else { return outcome }
            output = answer
        }
        guard let parsed = runner.actions(in: output, allowed: allowed) else { return .success(output: output) }
        let actions: [ActionRunner.Action]
        switch parsed {
        case .failure(let error):
            // Nothing ran: one action that does not validate stops them all. The answer is kept.
            return .failure(AgentError(code: .permanent, message: "agents.\(name): \(error.message); the answer was: \(String(decoding: output.prefix(2000), as: UTF8.self))"))
        case .success(let list): actions = list
        }
        if actions.isEmpty { return .success(output: output) }
        // Over an action limit the decision waits, as a throttled event does: the call ends now
        // as deferred (the route tries it again after the wait, spending no attempt, and its
        // timeout does not run meanwhile), and the decision is kept for that try. Its waits add
        // up to at most the limits' max_wait.
        if let (limit, count) = limits.withLock({ $0.neverFits(actions) }) {
            pending.withLock { _ = $0.removeValue(forKey: call.idempotencyKey) }
            return .failure(AgentError(code: .permanent, message: "agents.\(name): its decision has \(count) \(limit.tool ?? "") actions under one "
                + "action limit's key, more than its burst (\(limit.burst)) lets through at once, so it could never run: raise burst in "
                + "action_limits, or have the agent act less; the answer was: \(String(decoding: output.prefix(2000), as: UTF8.self))"))
        }
        let now = ContinuousClock.now
        if let wait = limits.withLock({ $0.take(actions, now: now) }) {
            let ceiling = limits.withLock { $0.maxWait(for: actions) }
            let since = waitingSince.withLock { state -> ContinuousClock.Instant in
                if let known = state[call.idempotencyKey] { return known }
                if state.count < Self.pendingLimit { state[call.idempotencyKey] = now }
                return now
            }
            if since.duration(to: now) + wait > ceiling {
                waitingSince.withLock { _ = $0.removeValue(forKey: call.idempotencyKey) }
                pending.withLock { _ = $0.removeValue(forKey: call.idempotencyKey) }
                return .failure(AgentError(code: .permanent, message: "agents.\(name): its actions would wait for their action limit longer than "
                    + "action_limits max_wait (\(ceiling)) in all: raise max_wait or the limit"))
            }
            pending.withLock { state in if state.count < Self.pendingLimit { state[call.idempotencyKey] = output } }
            return .failure(AgentError(code: .deferred, message: "agents.\(name): waiting for its action limit", retryAfter: wait))
        }
        waitingSince.withLock { _ = $0.removeValue(forKey: call.idempotencyKey) }
        let cause = AgentCausation.Cause(depth: (call.events.map(\.depth).max() ?? 0) + 1, agent: name)
        switch await runner.run(actions, callKey: call.idempotencyKey, causationID: call.events.first?.id ?? call.idempotencyKey, cause: cause) {
        case .success(let receipts):
            pending.withLock { _ = $0.removeValue(forKey: call.idempotencyKey) }
            return .success(output: Self.output(output, receipts: receipts))
        case .failure(let error):
            pending.withLock { state in
                if error.code == .permanent {
                    state.removeValue(forKey: call.idempotencyKey)
                } else if state.count < Self.pendingLimit {
                    state[call.idempotencyKey] = output
                }
            }
            return .failure(AgentError(code: error.code, message: "agents.\(name): \(error.message)"))
        }
    }

    /// The answer with `receipts`: what each action did, or that it had already been done.
    static func output(_ output: [UInt8], receipts: [ActionRunner.Receipt]) -> [UInt8] {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(output))) as? [String: Any] else { return output }
        object["receipts"] = receipts.map { receipt -> [String: Any] in
            ["index": receipt.index, "tool": receipt.tool, "idempotency_key": receipt.idempotencyKey, "status": receipt.status.rawValue,
             "detokenized": receipt.detokenized,
             "result": (try? JSONSerialization.jsonObject(with: Data(receipt.result.utf8), options: [.fragmentsAllowed])) ?? receipt.result]
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(output))
    }
}
