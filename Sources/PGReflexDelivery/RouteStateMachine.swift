import PGReflexAgentContract
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexWire
import PGReflexState
import PGReflexStatus

/// A route's decisions, as a value: which journal records it matches, what its flow control
/// does with them (duplicates, loop guard, schema pins, idempotency, rate limit, shedding,
/// debounce, batches, windows, the per-key queue, throttle, the agent's breaker), what a call's
/// outcome does (done, retried, dead-lettered), and what to record and when.
///
/// Its mutating methods return ``Action``s: calls for its owner (``RouteConsumer``) to run,
/// and notices to log. Records and the cursor wait in ``records`` (``RouteRecords``) until the
/// owner takes a commit (``takeCommit(now:receiptMark:)``). It performs no I/O and reads no
/// clock: the owner passes `now` (an `Instant`, for timers) and `wallNow` (Unix microseconds,
/// for commit times and windows), so tests drive it with a test clock and never sleep.
///
/// The agent's circuit breaker is shared by every route of the agent: the machine reads and
/// updates it through a ``RouteBreakerView``, which its owner passes in.
struct RouteStateMachine<Instant: InstantProtocol> where Instant.Duration == Duration {
    typealias Job = RouteCalls<Instant>.Job

    /// Calls handed to the owner, as parallel arrays (the agent takes `calls` as they are).
    struct Calls: Sendable {
        /// Name each call's outcome when it comes back; empty for calls answered at once.
        var ids: [Int] = []
        var jobs: [Job] = []
        var calls: [AgentCall] = []

        init(capacity: Int) {
            jobs.reserveCapacity(capacity)
            calls.reserveCapacity(capacity)
        }
    }

    enum Action: Sendable {
        /// Calls to run as tasks, each under the route's timeout; their outcomes go to
        /// ``callFinished(_:_:now:wallNow:retrying:breaker:)``.
        case run(Calls)
        /// Calls for an agent that answers at once: their outcomes go to
        /// ``answered(_:_:micros:now:wallNow:breaker:)`` before anything else happens.
        case answerNow(Calls)
        case notice(RouteNotice)
    }

    /// The store's answers that admission needs (``prepare(_:now:wallNow:)`` asks).
    struct AdmissionQueries: Sendable {
        /// Matched events that may have a done record (read again after a crash, or replayed).
        var done: [DoneKey] = []
        /// Idempotency keys this process has not run lately: the store says which ran since `idempotencySince`.
        var idempotency: [DoneKey] = []
        var idempotencySince: Int64 = 0
    }

    /// A batch being admitted: kept between ``admit(done:idempotencyRun:breaker:)`` and the
    /// ``answered(_:_:micros:now:wallNow:breaker:)`` of each direct-lane pass it hands over.
    struct Admission {
        var events: [(event: RoutedEvent, values: CELActivation?)]
        var next = 0
        /// The event at `next` passed the checks before the lane (a pass ran in between).
        var checked = false
        var idempotencyValues: [String: String] = [:]
        var done: Set<String> = []
        var lane: DirectLanePass?
        /// A pass ran: the lane opens again (if it may) before the next event.
        var reopenLane = false
        let now: Instant
        let wallNow: Int64
    }

    let settings: RouteSettings
    let agentName: String
    /// The agent answers at once (``Agent/answersAtOnce``): its calls finish before the next
    /// pass, so `concurrency` cannot bind them, and a pass hands over up to ``DirectLanePass/capacity``.
    let answersAtOnce: Bool
    /// A forced replay: events recorded as done run again.
    let force: Bool
    /// A replay with `--redecide`: acting agents decide again (``AgentCall/redecide``).
    let redecide: Bool
    /// Each finished call is a notice (the log's level lets `info` through).
    let noticesCalls: Bool
    /// Values other routes parsed already (nil: this route parses its own).
    let sharedValues: EventValuesCache?

    /// The per-key queue, throttle, breaker, pauses, calls in flight and retries.
    var calls: RouteCalls<Instant>
    /// The records of the next commit, and the cursor.
    var records: RouteRecords<Instant>
    /// Pins, idempotency, the rate limit, shedding, debounce, batches and windows.
    var stages: RouteStages<Instant>
    /// When the per-key state that no longer matters is next forgotten.
    var nextKeyPrune: Instant
    /// Matched events not yet done (queued, waiting in a debounce or batch, running, held).
    var pendingEvents = 0
    /// Done records may exist after the cursor up to this id (out-of-order completions before
    /// a crash, or a replayed range): only events up to it are looked up.
    var lastDone: String?
    /// Event ids the agent's receipts show took effect, though not recorded as done.
    var receipted: Set<String>
    /// The cause a tool's tag message gave its transaction (its commit LSN).
    var causeTag: (commitLSN: LSN, cause: AgentCausation.Cause)?
    var counts = RouteCounts()
    /// Commit to agent start (first attempts), and the calls' own durations, in microseconds.
    var commitToAgent = LatencyHistogram()
    var callDuration = LatencyHistogram()
    /// What the metrics have not been told yet.
    var tally: RouteTally
    var admission: Admission?
    /// The actions of the method running now.
    var output: [Action] = []

    /// `start`: the cursor's position (nil: the journal's beginning).
    init(settings: RouteSettings, agentName: String, answersAtOnce: Bool, follows: Bool, force: Bool = false, redecide: Bool = false,
         resumingAfter start: EventPosition?, lastDone: String?, receipted: Set<String> = [], now: Instant,
         noticesCalls: Bool, sharedValues: EventValuesCache? = nil, tally: RouteTally = RouteTally(enabled: false),
         random: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.settings = settings
        self.agentName = agentName
        self.answersAtOnce = answersAtOnce
        self.force = force
        self.redecide = redecide
        self.noticesCalls = noticesCalls
        self.sharedValues = sharedValues
        self.lastDone = lastDone
        self.receipted = receipted
        self.tally = tally
        calls = RouteCalls(settings: settings, answersAtOnce: answersAtOnce, random: random)
        records = RouteRecords(route: settings.name, agent: agentName, consumerName: settings.consumerName, follows: follows,
                               resumingAfter: start, now: now)
        stages = RouteStages(settings: settings, now: now)
        nextKeyPrune = now
    }

    /// The windows the state store kept: open ones, and fired ones whose call had not finished.
    mutating func restore(_ entries: [WindowEntry]) {
        guard stages.windows != nil else { return }
        pendingEvents += entries.count
        for old in stages.windows!.restore(entries) { leaveWindow(old) }
    }

    /// The actions gathered since the last call, for the owner.
    mutating func takeOutput() -> [Action] {
        var taken: [Action] = []
        swap(&taken, &output)
        return taken
    }

    mutating func notice(_ notice: RouteNotice) {
        output.append(.notice(notice))
    }
}
