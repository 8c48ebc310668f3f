import Foundation
public import PGReflexAgentContract
public import PGReflexRouter
public import PGReflexState

extension RouteConsumer {
    /// `dlq retry`: runs a dead letter again through its route's agent, with the idempotency
    /// key its first attempts had. On success the event is recorded as done and the letter is
    /// removed, in one transaction; on failure the letter stays, and the error is returned.
    /// `redecide`: an acting agent decides again rather than carrying out its recorded decision.
    public static func retry(_ letter: DeadLetter, settings: RouteSettings, agent: any Agent, store: any StateStore,
                             redecide: Bool = false) async throws -> AgentOutcome {
        let values = RouteValues.values(of: letter.envelope)
        let op: String = if case .string(let op)? = values["op"] { op } else { "" }
        let event = AgentEvent(id: letter.eventID, table: letter.table, op: op, envelope: letter.envelope)
        let value = settings.idempotency.flatMap { RouteValues.keyValue($0.key, values) }
        var call = AgentCall(route: settings.name, events: [event], agent: agent.name, idempotencyValue: value ?? letter.eventID,
                             attempt: letter.attempts + 1, timeout: settings.timeout)
        call.redecide = redecide
        let outcome = await Self.call(agent, call, timeout: settings.timeout)
        if case .success(let output) = outcome {
            var done = [DoneKey(eventID: letter.eventID, route: settings.name, agent: agent.name)]
            if let value { done.append(DoneKey(eventID: RouteStateMachine<ContinuousClock.Instant>.idempotencyRecord(value), route: settings.name, agent: agent.name)) }
            let results = output.map {
                [AgentResult(route: settings.name, agent: agent.name, eventID: letter.eventID, eventCount: 1, idempotencyKey: call.idempotencyKey,
                             attempt: call.attempt, output: $0, at: Int64(Date().timeIntervalSince1970 * 1e6))]
            } ?? []
            try await store.commit(StateCommit(done: done, removedDeadLetters: letter.id.map { [$0] } ?? [], results: results))
        }
        return outcome
    }
}
