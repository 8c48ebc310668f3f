import PGReflexAgentContract
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexStatus

/// Starting calls (a pause, the throttle, the agent's breaker, the per-key queue), and what
/// their outcomes do: done, retried, or dead-lettered.
extension RouteStateMachine {
    /// Starts what may start: calls to run as tasks, or, for an agent that answers at once, to
    /// answer now. `more`: call again once they are answered (what they free may start).
    /// `captureBehind` tells whether capture lags by more than a duration (`shed: pause`);
    /// `receiptMark` is the agent's mark before calls that run as tasks.
    mutating func startCalls(now: Instant, wallNow: Int64, captureBehind: (Duration) -> Bool, breaker: some RouteBreakerView<Instant>,
                             receiptMark: () -> Int64?) throws -> (actions: [Action], more: Bool) {
        nextAdmission = nil
        if let disabledUntil, now < disabledUntil {
            nextAdmission = disabledUntil
            return (takeOutput(), false)
        }
        if let shed = settings.shed, shed.action == .pause {
            let behind = captureBehind(shed.lagOver)
            if behind != shedPaused {
                shedPaused = behind
                notice(.shedPaused(behind, lagOver: shed.lagOver))
            }
            if behind {
                nextAdmission = now.advanced(by: .milliseconds(500))
                return (takeOutput(), false)
            }
        }
        var breakerClosed = true
        let settings = self.settings
        var throttle = self.throttle
        var nextAdmission = self.nextAdmission
        let started = queue.start(limit: answersAtOnce ? Self.callsPerPassAtOnce : nil) { job in
            if let notBefore = job.notBefore, notBefore > now {
                nextAdmission = min(nextAdmission ?? notBefore, notBefore)
                return false
            }
            guard breakerClosed else { return false }
            if throttle != nil, let conforms = throttle!.take(Self.throttleKey(job, settings), now: now) {
                nextAdmission = min(nextAdmission ?? conforms, conforms)
                return false
            }
            switch breaker.decide(now: now) {
            case .call: return true
            case .probe:
                breakerClosed = false
                return true
            case .wait(let until):
                breakerClosed = false
                let retry = until ?? now.advanced(by: .milliseconds(100))
                nextAdmission = min(nextAdmission ?? retry, retry)
                return false
            }
        }
        self.throttle = throttle
        self.nextAdmission = nextAdmission
        guard !started.isEmpty else { return (takeOutput(), false) }
        var calls: [Call] = []
        calls.reserveCapacity(started.count)
        for (_, var job) in started {
            if job.attempt == 0, isStale(job, wallNow: wallNow) {
                // Judged again as the call would start: the agent's own backlog ages too. A
                // retry is not shed (its first attempt may have acted).
                queue.finished(key: job.key, group: job.group)
                for event in job.events { skip(event, .shed, at: wallNow) }
                try finish(job)
                continue
            }
            let call = begin(&job, wallNow: wallNow)
            calls.append(Call(id: -1, job: job, call: call))
        }
        guard !calls.isEmpty else { return (takeOutput(), true) }
        counts.peakRunning = max(counts.peakRunning, outstanding.count + calls.count)
        if answersAtOnce {
            // Nothing is outstanding: the owner answers them before anything else happens.
            output.append(.answerNow(calls))
            return (takeOutput(), true)
        }
        let mark = receiptMark()
        for index in calls.indices {
            calls[index].id = nextCall
            nextCall += 1
            outstanding[calls[index].id] = (calls[index].job, mark, now)
        }
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
        return AgentCall(route: settings.name, events: job.events.map(\.agentEvent), agent: agentName,
                         idempotencyValue: job.idempotencyKey ?? job.events[0].id, attempt: job.attempt, timeout: settings.timeout)
    }

    static func throttleKey(_ job: Job, _ settings: RouteSettings) -> String {
        guard let key = settings.throttle?.key else { return "" }
        return job.events[0].throttleKey ?? RouteValues.keyValue(key, RouteValues.values(of: job.events[0].envelope)) ?? ""
    }

    /// The outcome of a call handed over with ``Action/run(_:)``. `retrying` false: the route
    /// is stopping, and a failed call's events stay after the cursor for the next start.
    mutating func callFinished(_ id: Int, _ outcome: AgentOutcome, now: Instant, wallNow: Int64, retrying: Bool,
                               breaker: some RouteBreakerView<Instant>) throws -> [Action] {
        guard let (job, _, started) = outstanding.removeValue(forKey: id) else { return takeOutput() }
        try record(job, outcome, micros: UnixTime.micros(started.duration(to: now)), now: now, wallNow: wallNow, retrying: retrying, breaker: breaker)
        return takeOutput()
    }

    /// What a call's outcome does: done, retried, or dead-lettered.
    mutating func record(_ job: Job, _ outcome: AgentOutcome, micros: Int64, now: Instant, wallNow: Int64, retrying: Bool,
                         breaker: some RouteBreakerView<Instant>) throws {
        callDuration.record(micros: micros)
        tally.callFinished(micros: micros)
        switch outcome {
        case .success(let output):
            noticeCall(job, outcome: "succeeded", micros: micros)
            if breaker.succeeded() { notice(.breakerClosed) }
            counts.succeeded += 1
            if let output, let first = job.events.first {
                pending.results.append(AgentResult(route: settings.name, agent: agentName, eventID: first.id, eventCount: job.events.count,
                                                   idempotencyKey: AgentCall.idempotencyKey(route: settings.name, agent: agentName, value: job.idempotencyKey ?? first.id),
                                                   attempt: job.attempt, output: output, at: wallNow, durationMicros: micros))
            }
            queue.finished(key: job.key, group: job.group)
            for event in job.events { pending.done.append(DoneKey(eventID: event.id, route: settings.name, agent: agentName)) }
            if let key = job.idempotencyKey {
                pending.done.append(DoneKey(eventID: Self.idempotencyRecord(key), route: settings.name, agent: agentName))
            }
            try finish(job)
        case .failure(let error) where error.code == .deferred:
            // Waiting for the agent's action limit: no attempt spent, no breaker count.
            var next = job
            next.attempt -= 1
            if retrying {
                counts.deferred += 1
                next.notBefore = now.advanced(by: error.retryAfter ?? .seconds(1))
                queue.retry(next, key: job.key, group: job.group, priority: job.priority)
            } else {
                // Stopping: the events stay after the cursor and run again next time.
                queue.finished(key: job.key, group: job.group)
            }
        case .failure(let error):
            try failed(job, error, micros: micros, now: now, wallNow: wallNow, retrying: retrying, breaker: breaker)
        }
    }

    private mutating func failed(_ job: Job, _ error: AgentError, micros: Int64, now: Instant, wallNow: Int64, retrying: Bool,
                                 breaker: some RouteBreakerView<Instant>) throws {
        // Decided once, before the notice: "failed_retryable" only when the call runs again.
        let decision = error.isRetryable && retrying && error.code != .disabled
            ? settings.retry.decide(before: job.attempt + 1, retryAfter: error.retryAfter, using: &random) : nil
        let runsAgain: Bool = if error.code == .disabled || !retrying { true } else if case .retry = decision { true } else { false }
        noticeCall(job, outcome: runsAgain ? "failed_retryable" : "failed", micros: micros, error: error)
        if error.isRetryable || error.code == .disabled {
            if breaker.failed(now: now) { notice(.breakerOpened(error)) }
        } else if breaker.succeeded() {  // it answered: the agent is up, the event is bad
            notice(.breakerClosed)
        }
        var next = job
        if error.code == .disabled {
            // Paused for its Retry-After, or a minute; then one call asks again.
            let pause = error.retryAfter ?? .seconds(60)
            disabledUntil = now.advanced(by: pause)
            notice(.disabled(error, pause: pause))
            next.attempt -= 1
            queue.retry(next, key: job.key, group: job.group, priority: job.priority)
        } else if case .retry(let delay) = decision {
            counts.retries += 1
            tally.retries += 1
            next.notBefore = now.advanced(by: delay)
            notice(.retrying(attempt: job.attempt, delay: delay, error: error))
            queue.retry(next, key: job.key, group: job.group, priority: job.priority)
        } else if !retrying {
            // Stopping: the events stay after the cursor and run again next time.
            queue.finished(key: job.key, group: job.group)
        } else {
            queue.finished(key: job.key, group: job.group)
            if case .retryAfterTooLong(let asked) = decision {
                deadLetter(job, AgentError(code: error.code, message: "\(error.message); the agent asked to retry after \(asked), past retries.retry_after_max (\(settings.retry.retryAfterMax)): raise it to wait that long", retryAfter: asked), wallNow: wallNow)
            } else {
                deadLetter(job, error, wallNow: wallNow)
            }
            try finish(job)
        }
    }

    mutating func deadLetter(_ job: Job, _ error: AgentError, wallNow: Int64) {
        counts.deadLettered += job.events.count
        tally.deadLetters += job.events.count
        for event in job.events {
            // Dead-lettering is an outcome: an event read again after a restart is not run, and
            // not dead-lettered, a second time. `dlq retry` runs it.
            recordHandled(event)
            pending.deadLetters.append(DeadLetter(
                eventID: event.id, route: settings.name, agent: agentName, table: event.table, envelope: event.envelope,
                errorClass: error.isRetryable ? "retryable_exhausted" : error.code.rawValue,
                message: error.message, attempts: job.attempt, firstAttempt: job.firstAttempt ?? wallNow, lastAttempt: wallNow))
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
            for earlier in job.events.dropLast() { pending.windowRemoved.append((settings.name, earlier.id)) }
            try finish(last)
            pendingEvents -= job.events.count - 1
        } else {
            for event in job.events { try finish(event) }
        }
    }

    /// A matched event is handled (done, skipped, superseded, dead-lettered).
    mutating func finish(_ event: RoutedEvent) throws {
        pendingEvents -= 1
        if let position = event.position { try complete(position) }
    }

    mutating func complete(_ position: EventPosition) throws {
        if case .advance = try watermark.completed(position) { cursorMoved = true }
    }
}
