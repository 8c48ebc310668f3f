import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexStatus

/// Starting calls (throttle, circuit breaker, per-key queue), and what their outcomes do:
/// done, retried, or dead-lettered.
extension RouteConsumer {

    /// Starts what may start. An agent that answers at once (``Agent/handleAtOnce(_:)``) is
    /// handed the calls here, and what their outcomes free starts in the same pass: no task,
    /// executor hop or timer per call.
    func start(group: inout ThrowingDiscardingTaskGroup<any Error>, now: ContinuousClock.Instant) throws {
        while try startOnce(group: &group, now: now) {}
    }

    /// One pass over the queue; true when an agent answered at once and more may start.
    private func startOnce(group: inout ThrowingDiscardingTaskGroup<any Error>, now: ContinuousClock.Instant) throws -> Bool {
        nextAdmission = nil
        if let disabledUntil, now < disabledUntil {
            nextAdmission = disabledUntil
            return false
        }
        if let shed = settings.shed, shed.action == .pause {
            let behind = channel.isBehind(by: shed.lagOver, nowMicros: wallMicros())
            if behind != shedPaused {
                shedPaused = behind
                if behind {
                    logger.warning("capture is catching up on a backlog: this route's calls wait until it has (shed: pause)", metadata: ["route.lag_over": "\(shed.lagOver)"])
                } else {
                    logger.notice("capture has caught up: this route's calls go on")
                }
            }
            if behind {
                nextAdmission = now.advanced(by: .milliseconds(500))
                return false
            }
        }
        var breakerClosed = true
        let started = queue.start(limit: agentAnswersAtOnce ? Self.callsPerPassAtOnce : nil) { job in
            if let notBefore = job.notBefore, notBefore > now {
                nextAdmission = min(nextAdmission ?? notBefore, notBefore)
                return false
            }
            guard breakerClosed else { return false }
            if throttle != nil, let conforms = throttle!.take(throttleKey(job), now: now) {
                nextAdmission = min(nextAdmission ?? conforms, conforms)
                return false
            }
            switch runtime.decide(now: now) {
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
        guard !started.isEmpty else { return false }
        var jobs: [Job] = []
        var calls: [AgentCall] = []
        jobs.reserveCapacity(started.count)
        calls.reserveCapacity(started.count)
        let wallNow = wallMicros()
        for (_, var job) in started {
            if job.attempt == 0, isStale(job, wallNow: wallNow) {
                // Judged again as the call would start: the agent's own backlog ages too. A
                // retry is not shed (its first attempt may have acted).
                queue.finished(key: job.key, group: job.group)
                for event in job.events { skip(event, .shed, at: wallNow) }
                try finish(job)
                continue
            }
            calls.append(begin(&job, wallNow: wallNow))
            jobs.append(job)
        }
        guard !jobs.isEmpty else { return true }
        counts.peakRunning = max(counts.peakRunning, outstanding.count + jobs.count)
        let agent = runtime.agent
        if agentAnswersAtOnce {
            let outcomes = agent.handleAtOnce(calls)
            precondition(outcomes.count == calls.count, "an agent answers every call it is handed")
            // Recorded here: nothing was outstanding, nothing posts back.
            let finished = clock.now
            let micros = UnixTime.micros(now.duration(to: finished)) / Int64(jobs.count)
            for (job, outcome) in zip(jobs, outcomes) { try record(job, outcome, micros: micros, now: finished, retrying: true) }
            return true
        }
        let inbox = self.inbox
        let timeout = settings.timeout
        let mark = agent.receiptMark()
        for (job, call) in zip(jobs, calls) {
            let id = nextCall
            nextCall += 1
            outstanding[id] = (job, mark, now)
            group.addTask(executorPreference: thread) {
                let outcome = await Self.call(agent, call, timeout: timeout)
                inbox.post(Completion(call: id, outcome: outcome))
            }
        }
        return false
    }

    /// `shed: {lag_over, action: skip}`: every event of the job committed longer ago than
    /// `lag_over` (a batch or window is shed only when its newest event is stale too).
    func isStale(_ job: Job, wallNow: Int64) -> Bool {
        guard let shed = settings.shed, shed.action == .skip else { return false }
        let newest = job.events.map(\.commitTime).max() ?? 0
        return newest > 0 && wallNow - newest > UnixTime.micros(shed.lagOver)
    }

    /// A job's next attempt: counted, its first attempt's latency recorded, and its call.
    func begin(_ job: inout Job, wallNow: Int64) -> AgentCall {
        job.attempt += 1
        if job.firstAttempt == nil { job.firstAttempt = wallNow }
        counts.calls += 1
        if job.attempt == 1 {
            let latency = wallNow - job.events[0].commitTime
            commitToAgent.record(micros: latency)
            metrics.callStarted(commitToAgentMicros: latency)
            for event in job.events { metrics.count(table: event.table, op: event.op, .dispatched) }
        }
        return AgentCall(route: settings.name, events: job.events.map(\.agentEvent), agent: runtime.name,
                         idempotencyValue: job.idempotencyKey ?? job.events[0].id, attempt: job.attempt, timeout: settings.timeout)
    }

    func throttleKey(_ job: Job) -> String {
        guard let key = settings.throttle?.key else { return "" }
        return job.events[0].throttleKey ?? Self.keyValue(key, Self.values(of: job.events[0].envelope)) ?? ""
    }

    /// One attempt, no longer than `timeout`.
    static func call(_ agent: any Agent, _ call: AgentCall, timeout: Duration) async -> AgentOutcome {
        await withTaskGroup(of: AgentOutcome?.self) { group in
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

    func handleCompletions(retrying: Bool = true) throws {
        let now = clock.now
        for completion in inbox.take() {
            guard let (job, _, started) = outstanding.removeValue(forKey: completion.call) else { continue }
            try record(job, completion.outcome, micros: UnixTime.micros(started.duration(to: now)), now: now, retrying: retrying)
        }
    }

    /// What a call's outcome does: done, retried, or dead-lettered.
    func record(_ job: Job, _ outcome: AgentOutcome, micros: Int64, now: ContinuousClock.Instant, retrying: Bool) throws {
        callDuration.record(micros: micros)
        metrics.callFinished(micros: micros)
        switch outcome {
        case .success(let output):
            logCall(job, outcome: "succeeded", micros: micros)
            if runtime.succeeded() { logBreakerClosed() }
            counts.succeeded += 1
            if let output, let first = job.events.first {
                pending.results.append(AgentResult(route: settings.name, agent: runtime.name, eventID: first.id, eventCount: job.events.count,
                                                   idempotencyKey: AgentCall.idempotencyKey(route: settings.name, agent: runtime.name, value: job.idempotencyKey ?? first.id),
                                                   attempt: job.attempt, output: output, at: wallMicros(),
                                                   durationMicros: micros))
            }
            queue.finished(key: job.key, group: job.group)
            for event in job.events { pending.done.append(DoneKey(eventID: event.id, route: settings.name, agent: runtime.name)) }
            if let key = job.idempotencyKey {
                pending.done.append(DoneKey(eventID: "idempotency:" + key, route: settings.name, agent: runtime.name))
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
            // Decided once, before the log line: "failed_retryable" only when the call runs again.
            let decision = error.isRetryable && retrying && error.code != .disabled
                ? settings.retry.decide(before: job.attempt + 1, retryAfter: error.retryAfter, using: &random) : nil
            let runsAgain: Bool = if error.code == .disabled || !retrying { true } else if case .retry = decision { true } else { false }
            logCall(job, outcome: runsAgain ? "failed_retryable" : "failed", micros: micros, error: error)
            if error.isRetryable || error.code == .disabled {
                if runtime.failed(now: now) {
                    logger.error("the agent failed too often in a row: its circuit breaker opened; events wait for it (none is dead-lettered meanwhile)",
                                 metadata: ["error": "\(error)"])
                }
            } else if runtime.succeeded() {  // it answered: the agent is up, the event is bad
                logBreakerClosed()
            }
            var next = job
            if error.code == .disabled {
                // Paused for its Retry-After, or a minute; then one call asks again.
                let pause = error.retryAfter ?? .seconds(60)
                disabledUntil = now.advanced(by: pause)
                logger.error("the agent asked to be disabled: the route pauses and its events wait; nothing is lost",
                             metadata: ["error": "\(error)", "route.paused_for": "\(pause)"])
                next.attempt -= 1
                queue.retry(next, key: job.key, group: job.group, priority: job.priority)
            } else if case .retry(let delay) = decision {
                counts.retries += 1
                metrics.retried()
                next.notBefore = now.advanced(by: delay)
                logger.debug("retrying a failed call", metadata: ["attempt": "\(job.attempt)", "retry_in": "\(delay)", "error": "\(error)"])
                queue.retry(next, key: job.key, group: job.group, priority: job.priority)
            } else if !retrying {
                // Stopping: the events stay after the cursor and run again next time.
                queue.finished(key: job.key, group: job.group)
            } else {
                queue.finished(key: job.key, group: job.group)
                if case .retryAfterTooLong(let asked) = decision {
                    deadLetter(job, AgentError(code: error.code, message: "\(error.message); the agent asked to retry after \(asked), past retries.retry_after_max (\(settings.retry.retryAfterMax)): raise it to wait that long", retryAfter: asked))
                } else {
                    deadLetter(job, error)
                }
                try finish(job)
            }
        }
    }

    func logBreakerClosed() {
        logger.notice("the agent answered again: its circuit breaker closed; calls resume", metadata: ["agent": "\(runtime.name)"])
    }

    func deadLetter(_ job: Job, _ error: AgentError, errorClass: String? = nil) {
        let now = wallMicros()
        counts.deadLettered += job.events.count
        metrics.deadLettered(job.events.count)
        for event in job.events {
            // Dead-lettering is an outcome: an event read again after a restart is not run, and
            // not dead-lettered, a second time. `dlq retry` runs it.
            recordHandled(event)
            pending.deadLetters.append(DeadLetter(
                eventID: event.id, route: settings.name, agent: runtime.name, table: event.table, envelope: event.envelope,
                errorClass: errorClass ?? (error.isRetryable ? "retryable_exhausted" : error.code.rawValue),
                message: error.message, attempts: job.attempt, firstAttempt: job.firstAttempt ?? now, lastAttempt: now))
        }
        logger.error("dead-lettered: the agent could not handle the event (pgreflex dlq list shows it; dlq retry runs it again)", metadata: [
            "event.id": "\(job.events[0].id)", "events": "\(job.events.count)", "attempts": "\(job.attempt)", "error": "\(error)",
        ])
    }

    func finish(_ job: Job) throws {
        if job.fromWindow, let last = job.events.last {
            for earlier in job.events.dropLast() { pending.windowRemoved.append((settings.name, earlier.id)) }
            try finish(last)
            pendingEvents -= job.events.count - 1
        } else {
            for event in job.events { try finish(event) }
        }
    }

    /// A matched event is handled (done, skipped, superseded, dead-lettered).
    func finish(_ event: RoutedEvent) throws {
        pendingEvents -= 1
        if let position = event.position { try complete(position) }
    }

    func complete(_ position: EventPosition) throws {
        if case .advance = try watermark.completed(position) { cursorMoved = true }
    }
}
