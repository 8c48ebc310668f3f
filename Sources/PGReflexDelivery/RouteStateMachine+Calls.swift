import PGReflexAgentContract
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexStatus

/// Starting calls, and what their outcomes mean for the route's records: done, retried, or
/// dead-lettered (``RouteCalls`` says which).
extension RouteStateMachine {
    /// Starts what may start: calls to run as tasks, or, for an agent that answers at once, to
    /// answer now. `more`: call again once they are answered (what they free may start).
    /// `captureBehind` tells whether capture lags by more than a duration (`shed: pause`);
    /// `receiptMark` is the agent's mark before calls that run as tasks.
    mutating func startCalls(now: Instant, wallNow: Int64, captureBehind: (Duration) -> Bool, breaker: some RouteBreakerView<Instant>,
                             receiptMark: () -> Int64?) throws -> (actions: [Action], more: Bool) {
        let (started, pause, throttled) = self.calls.startable(now: now, captureBehind: captureBehind, breaker: breaker)
        if let pause { notice(pause) }
        for (job, until) in throttled {
            let wallUntil = wallNow + UnixTime.micros(now.duration(to: until))
            for event in job.events { trace(.throttled, event, at: wallNow, detail: String(wallUntil)) }
        }
        guard !started.isEmpty else { return (takeOutput(), false) }
        var calls = Calls(capacity: started.count)
        for var job in started {
            if job.attempt == 0, isStale(job, wallNow: wallNow) {
                // Judged again as the call would start: the agent's own backlog ages too. A
                // retry is not shed (its first attempt may have acted).
                self.calls.abandon(job)
                for event in job.events { skip(event, .shed, at: wallNow) }
                try finish(job)
                continue
            }
            calls.calls.append(begin(&job, wallNow: wallNow))
            calls.jobs.append(job)
        }
        guard !calls.jobs.isEmpty else { return (takeOutput(), true) }
        counts.peakRunning = max(counts.peakRunning, self.calls.outstanding.count + calls.jobs.count)
        if answersAtOnce {
            // Nothing is outstanding: the owner answers them before anything else happens.
            output.append(.answerNow(calls))
            return (takeOutput(), true)
        }
        calls.ids = self.calls.track(calls.jobs, mark: receiptMark(), now: now)
        output.append(.run(calls))
        return (takeOutput(), false)
    }

    /// `shed: {lag_over, action: skip}`: every event of the job committed longer ago than
    /// `lag_over` (a batch or window is shed only when its newest event is stale too).
    func isStale(_ job: Job, wallNow: Int64) -> Bool {
        guard let shed = settings.shed, shed.action == .skip else { return false }
        let newest = job.events.map(\.commitTime).max() ?? 0
        return newest > 0 && wallNow - newest > UnixTime.micros(shed.lagOver)
    }

    /// A job's next attempt: counted, its first attempt's latency recorded, and its call.
    mutating func begin(_ job: inout Job, wallNow: Int64) -> AgentCall {
        job.attempt += 1
        if job.firstAttempt == nil { job.firstAttempt = wallNow }
        counts.calls += 1
        if job.attempt == 1 {
            let latency = wallNow - job.events[0].commitTime
            commitToAgent.record(micros: latency)
            tally.callStarted(commitToAgentMicros: latency)
            for event in job.events { tally.count(table: event.table, op: event.op, .dispatched) }
        }
        var call = AgentCall(route: settings.name, events: job.events.map(\.agentEvent), agent: agentName,
                             idempotencyValue: job.idempotencyKey ?? job.events[0].id, attempt: job.attempt, timeout: settings.timeout)
        call.redecide = redecide
        return call
    }

    /// The outcome of a call handed over with ``Action/run(_:)``. `retrying` false: the route
    /// is stopping, and a failed call's events stay after the cursor for the next start.
    mutating func callFinished(_ id: Int, _ outcome: AgentOutcome, now: Instant, wallNow: Int64, retrying: Bool,
                               breaker: some RouteBreakerView<Instant>) throws -> [Action] {
        guard let (job, started) = calls.untrack(id) else { return takeOutput() }
        try record(job, outcome, micros: UnixTime.micros(started.duration(to: now)), now: now, wallNow: wallNow, retrying: retrying, breaker: breaker)
        return takeOutput()
    }

    /// What a call's outcome does: done, retried, or dead-lettered.
    mutating func record(_ job: Job, _ outcome: AgentOutcome, micros: Int64, now: Instant, wallNow: Int64, retrying: Bool,
                         breaker: some RouteBreakerView<Instant>) throws {
        callDuration.record(micros: micros)
        tally.callFinished(micros: micros)
        let (verdict, notices) = calls.finished(job, outcome, now: now, retrying: retrying, breaker: breaker)
        switch verdict {
        case .succeeded: noticeCall(job, outcome: "succeeded", micros: micros)
        case .deferred: break
        case .deadLetter: noticeCall(job, outcome: "failed", micros: micros, error: outcome.error)
        case .retrying, .disabled, .stays:
            if outcome.error?.code != .deferred { noticeCall(job, outcome: "failed_retryable", micros: micros, error: outcome.error) }
        }
        for notice in notices { self.notice(notice) }
        traceAttempt(job, verdict, outcome.error, micros: micros, wallNow: wallNow)
        switch verdict {
        case .succeeded:
            counts.succeeded += 1
            if case .success(let output?) = outcome, let first = job.events.first {
                records.pending.results.append(AgentResult(
                    route: settings.name, agent: agentName, eventID: first.id, eventCount: job.events.count,
                    idempotencyKey: AgentCall.idempotencyKey(route: settings.name, agent: agentName, value: job.idempotencyKey ?? first.id),
                    attempt: job.attempt, output: output, at: wallNow, durationMicros: micros))
            }
            for event in job.events { records.done(event.id) }
            if let key = job.idempotencyKey { records.done(Self.idempotencyRecord(key)) }
            try finish(job)
        case .deferred:
            counts.deferred += 1
        case .retrying(let delay):
            counts.retries += 1
            tally.retries += 1
            notice(.retrying(attempt: job.attempt, delay: delay, error: outcome.error!))
        case .disabled(let pause):
            notice(.disabled(outcome.error!, pause: pause))
        case .stays:
            break
        case .deadLetter(let error):
            deadLetter(job, error, wallNow: wallNow)
            try finish(job)
        }
    }

    /// The attempt for `event show`: its events, when they were read, when it started, how long
    /// it took and how it ended. The key is stored only when it is not the first event's id.
    mutating func traceAttempt(_ job: Job, _ verdict: RouteCalls<Instant>.Verdict, _ error: AgentError?, micros: Int64, wallNow: Int64) {
        let outcome: String
        switch verdict {
        case .succeeded: outcome = "succeeded"
        case .deferred: outcome = "deferred"
        case .retrying: outcome = "retrying"
        case .disabled: outcome = "paused"
        case .stays: outcome = "stopped"
        case .deadLetter: outcome = "dead_lettered"
        }
        let at = wallNow - micros, readAt = job.events[0].readAt
        guard job.events.count == 1, job.idempotencyKey == nil, error == nil, verdict == .succeeded else {
            records.pending.traces.append(RouteTrace(
                route: settings.name, kind: .attempt, events: job.events.map(\.id), at: at, attempt: job.attempt, readAt: readAt,
                micros: micros, outcome: outcome, key: job.idempotencyKey ?? "", error: error.map { "\($0.code.rawValue): \($0.message)" } ?? ""))
            return
        }
        // Calls of one event that succeeded alike but for it (a direct-lane pass) share a line,
        // whose events are the done records that follow: the event's is next.
        let key = RouteRecords<Instant>.AttemptsKey(at: at, micros: micros, readAt: readAt, attempt: job.attempt, outcome: outcome)
        let next = records.pending.done.count
        if let open = records.openAttempts, open.key == key, open.end == next {
            records.pending.traces[open.index].doneRange = open.start..<(next + 1)
            records.openAttempts!.end = next + 1
            return
        }
        records.openAttempts = (key, records.pending.traces.count, next, next + 1)
        var line = RouteTrace(route: settings.name, kind: .attempts, events: [], at: at, attempt: job.attempt, readAt: readAt, micros: micros,
                              outcome: outcome)
        line.doneRange = next..<(next + 1)
        records.pending.traces.append(line)
    }

    mutating func deadLetter(_ job: Job, _ error: AgentError, wallNow: Int64) {
        counts.deadLettered += job.events.count
        tally.deadLetters += job.events.count
        for event in job.events {
            records.deadLetter(event, error, attempts: job.attempt, firstAttempt: job.firstAttempt ?? wallNow, at: wallNow)
        }
        notice(.deadLettered(eventID: job.events[0].id, events: job.events.count, attempts: job.attempt, error: error))
    }

    mutating func noticeCall(_ job: Job, outcome: String, micros: Int64, error: AgentError? = nil) {
        // A line per call costs more than a fast agent's call: only when it is logged.
        guard noticesCalls else { return }
        notice(.call(.init(eventID: job.events[0].id, position: job.events[0].position, events: job.events.count, attempt: job.attempt,
                           outcome: outcome, micros: micros, errorCode: error?.code)))
    }

    mutating func finish(_ job: Job) throws {
        if job.fromWindow, let last = job.events.last {
            for earlier in job.events.dropLast() { records.pending.windowRemoved.append((settings.name, earlier.id)) }
            try finish(last)
            pendingEvents -= job.events.count - 1
        } else {
            for event in job.events { try finish(event) }
        }
    }

    /// A matched event is handled (done, skipped, superseded, dead-lettered).
    mutating func finish(_ event: RoutedEvent) throws {
        pendingEvents -= 1
        if let position = event.position { try records.complete(position) }
    }
}
