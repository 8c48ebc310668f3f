import Foundation
public import PGReflexAgentContract
public import PGReflexTools
import Synchronization

/// Any agent whose outcome names `actions`: after it answers, its actions run through the
/// tools (``ActionRunner``), each once under `<call key>:<index>`, and their receipts join the
/// outcome. The decision is recorded (``DecisionLog``, the state store) before any action runs,
/// and every later attempt of the call carries it out rather than asking again: a retry, a
/// restart after a crash, `dlq retry`, a forced replay. Only `redecide` asks again, and that
/// decision's actions run under `<call key>:d<n>:<index>`.
public final class ActingAgent: Agent {
    let inner: any Agent
    let runner: ActionRunner
    let allowed: [String]
    /// Decisions whose actions have not all run yet, by call key (a retry in this process needs
    /// no read of the store, and a redecided call is not asked a third time).
    private let pending = Mutex<[String: Decided]>([:])
    private let decisions: (any DecisionLog)?
    private let limits: Mutex<ActionLimits>
    /// When each call's decision first waited for an action slot, by call key.
    private let waitingSince = Mutex<[String: ContinuousClock.Instant]>([:])
    static let pendingLimit = 10_000

    struct Decided: Sendable {
        var output: [UInt8]
        var number: Int
    }

    public init(_ inner: any Agent, runner: ActionRunner, allowed: [String], limits: [ActionLimit] = [], decisions: (any DecisionLog)? = nil) {
        self.inner = inner
        self.runner = runner
        self.allowed = allowed
        self.limits = Mutex(ActionLimits(limits))
        self.decisions = decisions
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
        let key = call.idempotencyKey
        var decided: Decided
        var fresh = false
        if let earlier = pending.withLock({ $0[key] }) {
            decided = earlier
        } else {
            var stored: AgentDecision?
            // An agent allowed no actions has no decision to carry out: no read of the store per
            // call (a webhook route's calls go by the thousand).
            if let decisions, !allowed.isEmpty {
                do {
                    stored = try await decisions.decision(callKey: key)
                } catch {
                    return .failure(AgentError(code: .temporary, message: "agents.\(name): the state store could not be read for the call's decision (\(error))"))
                }
            }
            if let stored, !call.redecide {
                decided = Decided(output: stored.output, number: stored.number)
            } else {
                let outcome = await inner.handle(call)
                guard case .success(let answer?) = outcome else { return outcome }
                decided = Decided(output: answer, number: (stored?.number ?? 0) + 1)
                fresh = true
            }
        }
        var output = decided.output
        guard let parsed = runner.actions(in: output, allowed: allowed) else { return .success(output: output) }
        var actions: [ActionRunner.Action]
        switch parsed {
        case .failure(let error):
            // Nothing ran: one action that does not validate stops them all. The answer is kept.
            pending.withLock { _ = $0.removeValue(forKey: key) }
            return .failure(AgentError(code: .permanent, message: "agents.\(name): \(error.message); the answer was: \(String(decoding: output.prefix(2000), as: UTF8.self))"))
        case .success(let list): actions = list
        }
        if actions.isEmpty { return .success(output: output) }
        if fresh, let decisions {
            // Durable before any action runs: whatever happens next, this is what the call does.
            do {
                let kept = try await decisions.record(AgentDecision(callKey: key, number: decided.number, route: call.route, agent: name,
                                                                    eventID: call.events.first?.id ?? key, output: output,
                                                                    at: Int64(Date().timeIntervalSince1970 * 1e6)))
                if kept.output != output, case .success(let list)? = runner.actions(in: kept.output, allowed: allowed) {
                    // Another process recorded this decision first: that one is carried out.
                    decided.output = kept.output
                    output = kept.output
                    actions = list
                }
            } catch {
                return .failure(AgentError(code: .temporary, message: "agents.\(name): the decision could not be recorded before acting (\(error)); nothing ran"))
            }
            pending.withLock { state in if state.count < Self.pendingLimit { state[key] = decided } }
        }
        // Over an action limit the decision waits, as a throttled event does: the call ends now
        // as deferred (the route tries it again after the wait, spending no attempt, and its
        // timeout does not run meanwhile), and the decision is kept for that try. Its waits add
        // up to at most the limits' max_wait.
        if let (limit, count) = limits.withLock({ $0.neverFits(actions) }) {
            pending.withLock { _ = $0.removeValue(forKey: key) }
            return .failure(AgentError(code: .permanent, message: "agents.\(name): its decision has \(count) \(limit.tool ?? "") actions under one "
                + "action limit's key, more than its burst (\(limit.burst)) lets through at once, so it could never run: raise burst in "
                + "action_limits, or have the agent act less; the answer was: \(String(decoding: output.prefix(2000), as: UTF8.self))"))
        }
        let now = ContinuousClock.now
        if let wait = limits.withLock({ $0.take(actions, now: now) }) {
            let ceiling = limits.withLock { $0.maxWait(for: actions) }
            let since = waitingSince.withLock { state -> ContinuousClock.Instant in
                if let known = state[key] { return known }
                if state.count < Self.pendingLimit { state[key] = now }
                return now
            }
            if since.duration(to: now) + wait > ceiling {
                waitingSince.withLock { _ = $0.removeValue(forKey: key) }
                pending.withLock { _ = $0.removeValue(forKey: key) }
                return .failure(AgentError(code: .permanent, message: "agents.\(name): its actions would wait for their action limit longer than "
                    + "action_limits max_wait (\(ceiling)) in all: raise max_wait or the limit"))
            }
            pending.withLock { state in if state.count < Self.pendingLimit { state[key] = decided } }
            return .failure(AgentError(code: .deferred, message: "agents.\(name): waiting for its action limit", retryAfter: wait))
        }
        waitingSince.withLock { _ = $0.removeValue(forKey: key) }
        let cause = AgentCausation.Cause(depth: (call.events.map(\.depth).max() ?? 0) + 1, agent: name)
        switch await runner.run(actions, callKey: AgentDecision.actionKeyPrefix(callKey: key, number: decided.number), causationID: call.events.first?.id ?? key, cause: cause) {
        case .success(let receipts):
            pending.withLock { _ = $0.removeValue(forKey: key) }
            return .success(output: Self.output(output, receipts: receipts, decision: decided.number))
        case .failure(let error):
            pending.withLock { state in
                if error.code == .permanent {
                    state.removeValue(forKey: key)
                } else if state.count < Self.pendingLimit {
                    state[key] = decided
                }
            }
            return .failure(AgentError(code: error.code, message: "agents.\(name): \(error.message)"))
        }
    }

    /// The answer with `receipts`: what each action did, or that it had already been done; and
    /// the decision's number when it is not the first (`--redecide`).
    static func output(_ output: [UInt8], receipts: [ActionRunner.Receipt], decision: Int = 1) -> [UInt8] {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(output))) as? [String: Any] else { return output }
        if decision > 1 { object["decision"] = decision }
        object["receipts"] = receipts.map { receipt -> [String: Any] in
            ["index": receipt.index, "tool": receipt.tool, "idempotency_key": receipt.idempotencyKey, "status": receipt.status.rawValue,
             "detokenized": receipt.detokenized,
             "result": (try? JSONSerialization.jsonObject(with: Data(receipt.result.utf8), options: [.fragmentsAllowed])) ?? receipt.result]
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(output))
    }
}
