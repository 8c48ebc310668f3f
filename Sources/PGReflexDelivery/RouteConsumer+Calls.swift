import PGReflexAgentContract
import PGReflexAgents
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState

/// The actor's side of the machine's decisions: reading the journal and asking the store what
/// admission needs, then calling the agent as the machine says and handing back the outcomes.
extension RouteConsumer {
    typealias Machine = RouteStateMachine<ContinuousClock.Instant>

    /// Reads up to `max` records and admits the route's; returns how many were read.
    func readAndAdmit(upTo mark: JournalChannel.DurableMark, max: Int, group: inout ThrowingDiscardingTaskGroup<any Error>) async throws -> Int {
        let reader = self.reader
        let replayEnd = self.replayEnd
        let (read, matched) = try machine.consider(readAt: wallMicros()) { visit in
            try reader.read(upTo: mark, through: replayEnd, maxRecords: Swift.max(1, max), visit)
        }
        guard let queries = machine.prepare(matched, now: clock.now, wallNow: wallMicros()) else { return read }
        let done = queries.done.isEmpty ? [] : Set(try await store.done(among: Array(queries.done), since: nil).map(\.eventID))
        let run: Set<DoneKey> = queries.idempotency.isEmpty ? [] : try await store.done(among: queries.idempotency, since: queries.idempotencySince)
        try perform(machine.admit(done: done, idempotencyRun: run, breaker: runtime), group: &group)
        return read
    }

    /// Starts what may start; an agent that answers at once is handed its calls here, and what
    /// their outcomes free starts in the same pass: no task, executor hop or timer per call.
    func start(group: inout ThrowingDiscardingTaskGroup<any Error>, now: ContinuousClock.Instant) throws {
        let channel = self.channel
        let agent = runtime.agent
        var more = true
        while more {
            let step = try machine.startCalls(now: now, wallNow: wallMicros(), captureBehind: { channel.isBehind(by: $0, nowMicros: Self.wallMicros()) },
                                              breaker: runtime, receiptMark: { agent.receiptMark() })
            more = step.more
            try perform(step.actions, group: &group)
        }
    }

    /// Does what the machine says, in order: the outcomes of calls answered at once go back to
    /// it before the next action, and what it says then comes first.
    func perform(_ actions: [Machine.Action], group: inout ThrowingDiscardingTaskGroup<any Error>) throws {
        var work = actions
        var index = 0
        while index < work.count {
            switch work[index] {
            case .notice(let notice):
                log(notice)
            case .answerNow(let calls):
                let started = clock.now
                let outcomes = runtime.agent.handleAtOnce(calls.calls)
                let finished = clock.now
                let micros = UnixTime.micros(started.duration(to: finished)) / Int64(calls.calls.count)
                let more = try machine.answered(calls, outcomes, micros: micros, now: finished, wallNow: wallMicros(), breaker: runtime)
                work.insert(contentsOf: more, at: index + 1)
            case .run(let calls):
                let inbox = self.inbox
                let agent = runtime.agent
                let timeout = settings.timeout
                for (id, call) in zip(calls.ids, calls.calls) {
                    group.addTask(executorPreference: agent.callExecutor ?? thread) {
                        let outcome = await Self.call(agent, call, timeout: timeout)
                        inbox.post(Completion(call: id, outcome: outcome))
                    }
                }
            }
            index += 1
        }
    }

    /// The outcomes the calls' tasks posted.
    func handleCompletions(retrying: Bool = true, group: inout ThrowingDiscardingTaskGroup<any Error>) throws {
        let now = clock.now
        for completion in inbox.take() {
            try perform(machine.callFinished(completion.call, completion.outcome, now: now, wallNow: wallMicros(), retrying: retrying,
                                             breaker: runtime), group: &group)
        }
    }

    /// One attempt, no longer than `timeout`.
    static func call(_ agent: any Agent, _ call: AgentCall, timeout: Duration) async -> AgentOutcome {
        if agent.endsCallsByTheirTimeout { return await agent.handle(call) }
        return await withTaskGroup(of: AgentOutcome?.self) { group in
            group.addTask { await agent.handle(call) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(AgentError(code: .timeout, message: "the call took longer than its timeout (\(timeout))"))
            }
            var result: AgentOutcome = .failure(AgentError(code: .timeout, message: "cancelled"))
            if let first = await group.next(), let outcome = first { result = outcome }
            group.cancelAll()
            return result
        }
    }
}
