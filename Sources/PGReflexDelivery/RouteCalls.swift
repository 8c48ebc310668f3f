import PGReflexAgentContract
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter

/// A route's calls between admission and their outcomes: the per-key queue (order per key,
/// `concurrency`, priority), the throttle, the agent's breaker, a pause (the agent asked to be
/// disabled, or `shed: pause` waits for capture), the calls in flight and the retry schedule.
/// What an outcome means for the route's records is the route's (``RouteStateMachine``).
struct RouteCalls<Instant: InstantProtocol> where Instant.Duration == Duration {
    /// One call: an event, or a batch or window of them.
    struct Job: Sendable {
        var events: [RoutedEvent]
        var key: String
        var group: String?
        var priority: Int
        var attempt = 0
        var notBefore: Instant?
        var firstAttempt: Int64?
        var idempotencyKey: String?
        /// The window the events came from: their stored entries go when the call is done.
        var fromWindow = false
        /// Called from the direct lane: it waits in the queue, under its row's key, only if it fails.
        var direct = false
    }

    /// What an outcome does to its job.
    enum Verdict: Equatable {
        case succeeded
        /// The agent's action limit: it waits, with no attempt spent.
        case deferred
        case retrying(after: Duration)
        /// The agent asked to be disabled: the route pauses, the job waits.
        case disabled(for: Duration)
        /// Stopping: the events stay after the cursor and run again next time.
        case stays
        case deadLetter(AgentError)
    }

    let settings: RouteSettings
    let answersAtOnce: Bool
    var queue: KeyedQueue<Job>
    var throttle: GCRA<Instant>?
    /// Calls started and not yet finished: the job, the agent's receipt mark before it, and when.
    var outstanding: [Int: (job: Job, mark: Int64?, started: Instant)] = [:]
    var nextCall = 0
    /// `shed: {action: pause}` holds the calls now.
    var shedPaused = false
    var disabledUntil: Instant?
    /// When a held-back call may start next (a throttle, a backoff, an open breaker, a pause).
    var nextAdmission: Instant?
    var random: any RandomNumberGenerator
    /// Jobs the throttle holds back (by their first event's id), so each is traced once.
    var throttleNoted: Set<String> = []

    init(settings: RouteSettings, answersAtOnce: Bool, random: any RandomNumberGenerator) {
        self.settings = settings
        self.answersAtOnce = answersAtOnce
        self.random = random
        queue = KeyedQueue(limit: settings.concurrency.limit, groupLimit: settings.concurrency.key == nil ? nil : settings.concurrency.limit)
        throttle = settings.throttle.map { GCRA(limit: $0.limit, period: $0.period, burst: $0.burst) }
    }

    mutating func enqueue(_ job: Job) {
        queue.enqueue(job, key: job.key, group: job.group, priority: job.priority)
    }

    /// Nothing queued, running or paused: calls may skip the queue (the direct lane).
    func isQuiet(now: Instant) -> Bool {
        queue.queued == 0 && queue.inFlight == 0 && outstanding.isEmpty && (disabledUntil.map { now >= $0 } ?? true)
    }

    var isIdle: Bool { outstanding.isEmpty && queue.queued == 0 }

    /// The jobs that may start now, in the queue's order, a notice when `shed: pause` began or
    /// ended, and the jobs the throttle newly holds back with when they may start.
    /// `captureBehind` tells whether capture lags by more than a duration.
    mutating func startable(now: Instant, captureBehind: (Duration) -> Bool,
                            breaker: some RouteBreakerView<Instant>) -> (jobs: [Job], notice: RouteNotice?, throttled: [(Job, until: Instant)]) {
        nextAdmission = nil
        if let disabledUntil, now < disabledUntil {
            nextAdmission = disabledUntil
            return ([], nil, [])
        }
        var notice: RouteNotice?
        if let shed = settings.shed, shed.action == .pause {
            let behind = captureBehind(shed.lagOver)
            if behind != shedPaused {
                shedPaused = behind
                notice = .shedPaused(behind, lagOver: shed.lagOver)
            }
            if behind {
                nextAdmission = now.advanced(by: .milliseconds(500))
                return ([], notice, [])
            }
        }
        var breakerClosed = true
        let settings = self.settings
        var throttle = self.throttle
        var nextAdmission = self.nextAdmission
        var throttled: [(Job, until: Instant)] = []
        let started = queue.start(limit: answersAtOnce ? DirectLanePass.capacity : nil) { job in
            if let notBefore = job.notBefore, notBefore > now {
                nextAdmission = min(nextAdmission ?? notBefore, notBefore)
                return false
            }
            guard breakerClosed else { return false }
            if throttle != nil, let conforms = throttle!.take(Self.throttleKey(job, settings), now: now) {
                throttled.append((job, conforms))
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
        let jobs = started.map(\.event)
        if !throttleNoted.isEmpty { for job in jobs { throttleNoted.remove(job.events[0].id) } }
        throttled = throttled.filter { throttleNoted.insert($0.0.events[0].id).inserted }
        return (jobs, notice, throttled)
    }

    static func throttleKey(_ job: Job, _ settings: RouteSettings) -> String {
        guard let key = settings.throttle?.key else { return "" }
        return job.events[0].throttleKey ?? RouteValues.keyValue(key, RouteValues.values(of: job.events[0].envelope)) ?? ""
    }

    /// A started job that will not be called after all (shed as it would start).
    mutating func abandon(_ job: Job) {
        queue.finished(key: job.key, group: job.group)
    }

    /// Jobs handed over as tasks: their ids, for their outcomes.
    mutating func track(_ jobs: [Job], mark: Int64?, now: Instant) -> [Int] {
        jobs.map { job in
            defer { nextCall += 1 }
            outstanding[nextCall] = (job, mark, now)
            return nextCall
        }
    }

    /// A tracked call's job and when it started; nil when it is not (or no longer) tracked.
    mutating func untrack(_ id: Int) -> (job: Job, started: Instant)? {
        outstanding.removeValue(forKey: id).map { ($0.job, $0.started) }
    }

    /// What an outcome does to its job (the queue frees or retries its key), and what to say
    /// about the agent. `retrying` false: the route is stopping.
    mutating func finished(_ job: Job, _ outcome: AgentOutcome, now: Instant, retrying: Bool,
                           breaker: some RouteBreakerView<Instant>) -> (Verdict, notices: [RouteNotice]) {
        let error: AgentError
        switch outcome {
        case .success:
            queue.finished(key: job.key, group: job.group)
            return (.succeeded, breaker.succeeded() ? [.breakerClosed] : [])
        case .failure(let failure) where failure.code == .deferred:
            // Waiting for the agent's action limit: no attempt spent, no breaker count.
            guard retrying else {
                queue.finished(key: job.key, group: job.group)
                return (.stays, [])
            }
            var next = job
            next.attempt -= 1
            next.notBefore = now.advanced(by: failure.retryAfter ?? .seconds(1))
            queue.retry(next, key: job.key, group: job.group, priority: job.priority)
            return (.deferred, [])
        case .failure(let failure):
            error = failure
        }
        var notices: [RouteNotice] = []
        if error.isRetryable || error.code == .disabled {
            if breaker.failed(now: now) { notices.append(.breakerOpened(error)) }
        } else if breaker.succeeded() {  // it answered: the agent is up, the event is bad
            notices.append(.breakerClosed)
        }
        var next = job
        if error.code == .disabled {
            // Paused for its Retry-After, or a minute; then one call asks again.
            let pause = error.retryAfter ?? .seconds(60)
            disabledUntil = now.advanced(by: pause)
            next.attempt -= 1
            queue.retry(next, key: job.key, group: job.group, priority: job.priority)
            return (.disabled(for: pause), notices)
        }
        guard retrying else {
            queue.finished(key: job.key, group: job.group)
            return (.stays, notices)
        }
        switch error.isRetryable ? settings.retry.decide(before: job.attempt + 1, retryAfter: error.retryAfter, using: &random) : nil {
        case .retry(let delay)?:
            next.notBefore = now.advanced(by: delay)
            queue.retry(next, key: job.key, group: job.group, priority: job.priority)
            return (.retrying(after: delay), notices)
        case .retryAfterTooLong(let asked)?:
            queue.finished(key: job.key, group: job.group)
            return (.deadLetter(AgentError(code: error.code, message: "\(error.message); the agent asked to retry after \(asked), past retries.retry_after_max (\(settings.retry.retryAfterMax)): raise it to wait that long", retryAfter: asked)), notices)
        default:
            queue.finished(key: job.key, group: job.group)
            return (.deadLetter(error), notices)
        }
    }
}
