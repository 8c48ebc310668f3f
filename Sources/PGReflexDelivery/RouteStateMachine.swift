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
/// and notices to log. Records wait in ``pending`` and the cursor in ``watermark`` until the
/// owner takes a commit (``takeCommit(now:receiptMark:)``). It performs no I/O and reads no
/// clock: the owner passes `now` (an `Instant`, for timers) and `wallNow` (Unix microseconds,
/// for commit times and windows), so tests drive it with a test clock and never sleep.
///
/// The agent's circuit breaker is shared by every route of the agent: the machine reads and
/// updates it through a ``RouteBreakerView``, which its owner passes in.
struct RouteStateMachine<Instant: InstantProtocol> where Instant.Duration == Duration {
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

    /// A call handed to the owner: `id` names it when its outcome comes back.
    struct Call: Sendable {
        var id: Int
        var job: Job
        var call: AgentCall
    }

    enum Action: Sendable {
        /// Calls to run as tasks, each under the route's timeout; their outcomes go to
        /// ``callFinished(_:_:now:wallNow:retrying:breaker:)``.
        case run([Call])
        /// Calls for an agent that answers at once: their outcomes go to
        /// ``answered(_:_:micros:now:wallNow:breaker:)`` before anything else happens.
        case answerNow([Call])
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
        var lane: DirectLane?
        /// A pass ran: the lane opens again (if it may) before the next event.
        var reopenLane = false
        let now: Instant
        let wallNow: Int64
    }

    let settings: RouteSettings
    let agentName: String
    /// The agent answers at once (``Agent/answersAtOnce``): its calls finish before the next
    /// pass, so `concurrency` cannot bind them, and a pass hands over up to `callsPerPassAtOnce`.
    let answersAtOnce: Bool
    /// Following the journal (the cursor moves), or re-delivering a range (it does not).
    let follows: Bool
    /// A forced replay: events recorded as done run again.
    let force: Bool
    /// Each finished call is a notice (the log's level lets `info` through).
    let noticesCalls: Bool
    static var callsPerPassAtOnce: Int { 1024 }

    var watermark: AcknowledgementWatermark
    var queue: KeyedQueue<Job>
    var throttle: GCRA<Instant>?
    var rateLimit: GCRA<Instant>?
    var debounce: Debounce<Instant, RoutedEvent>?
    var batcher: Batcher<Instant, RoutedEvent>?
    var window: SlidingWindow<UnixTime, RoutedEvent>?
    /// Windows that fired before a restart and whose call had not finished: the earlier events,
    /// by the id of the event that fired them. That event, read again, fires the same call.
    var firedWindows: [String: [RoutedEvent]] = [:]
    var nextWindowPrune: Instant
    var nextKeyPrune: Instant
    /// `shed: {action: pause}` holds the calls now.
    var shedPaused = false
    /// Calls started and not yet finished: the job, the agent's receipt mark before it, and when.
    var outstanding: [Int: (job: Job, mark: Int64?, started: Instant)] = [:]
    var nextCall = 0
    /// Matched events not yet done (queued, waiting in a debounce or batch, running, held).
    var pendingEvents = 0
    /// Records for the next commit.
    var pending = StateCommit()
    var cursorMoved = false
    /// When the state store last committed: commits are grouped (one fsync per interval).
    var lastCommit: Instant
    /// When the records of events no replay can reach are next pruned.
    var nextPrune: Instant
    /// Done records may exist after the cursor up to this id (out-of-order completions before
    /// a crash, or a replayed range): only events up to it are looked up.
    var lastDone: String?
    /// Event ids the agent's receipts show took effect, though not recorded as done.
    var receipted: Set<String>
    /// The cause a tool's tag message gave its transaction (its commit LSN).
    var causeTag: (commitLSN: LSN, cause: AgentCausation.Cause)?
    /// Idempotency keys run (or started) lately, with when.
    var idempotencyRun: [String: Instant] = [:]
    /// Keys held by a schema pin, and the events held.
    var heldKeys: Set<String> = []
    var heldEvents: [RoutedEvent] = []
    var heldAlerted: Set<String> = []
    var nextHoldReminder: Instant
    var disabledUntil: Instant?
    var random: any RandomNumberGenerator
    var counts = RouteCounts()
    /// When a held-back call may start next (a throttle, a backoff, an open breaker).
    var nextAdmission: Instant?
    /// Commit to agent start (first attempts), and the calls' own durations, in microseconds.
    var commitToAgent = LatencyHistogram()
    var callDuration = LatencyHistogram()
    /// What the metrics have not been told yet.
    var tally: RouteTally
    var admission: Admission?
    /// The actions of the method running now.
    var output: [Action] = []

    /// `start`: the cursor's position (nil: the journal's beginning).
    init(settings: RouteSettings, agentName: String, answersAtOnce: Bool, follows: Bool, force: Bool = false,
         resumingAfter start: EventPosition?, lastDone: String?, receipted: Set<String> = [], now: Instant,
         noticesCalls: Bool, tally: RouteTally = RouteTally(enabled: false),
         random: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.settings = settings
        self.agentName = agentName
        self.answersAtOnce = answersAtOnce
        self.follows = follows
        self.force = force
        self.noticesCalls = noticesCalls
        self.lastDone = lastDone
        self.receipted = receipted
        self.tally = tally
        self.random = random
        watermark = AcknowledgementWatermark(resumingAfter: start)
        queue = KeyedQueue(limit: settings.concurrency.limit, groupLimit: settings.concurrency.key == nil ? nil : settings.concurrency.limit)
        throttle = settings.throttle.map { GCRA(limit: $0.limit, period: $0.period, burst: $0.burst) }
        // Inngest's rate limit lets `limit` events through in any one period, back to back.
        rateLimit = settings.rateLimit.map { GCRA(limit: $0.limit, period: $0.period, burst: $0.limit) }
        debounce = settings.debounce.map { Debounce(period: $0.period, timeout: $0.timeout) }
        batcher = settings.batch.map { Batcher(maxSize: $0.maxSize, timeout: $0.timeout) }
        window = settings.window.map { SlidingWindow(count: $0.count, period: $0.period) }
        nextWindowPrune = now
        nextKeyPrune = now
        lastCommit = now
        nextPrune = now
        nextHoldReminder = now
    }

    /// The windows the state store kept: open ones, and fired ones whose call had not finished.
    mutating func restore(_ entries: [WindowEntry]) {
        guard var window else { return }
        for entry in entries {
            let event = RoutedEvent(position: nil, id: entry.eventID, table: entry.table, op: entry.op, commitTime: entry.at,
                                    envelope: entry.envelope, key: entry.key)
            pendingEvents += 1
            if let firing = Self.firingEvent(ofStoredKey: entry.key) {
                firedWindows[firing, default: []].append(event)
                continue
            }
            let (_, expired) = window.add(event, key: entry.key, at: UnixTime(microseconds: entry.at))
            for old in expired { leaveWindow(old) }
        }
        self.window = window
    }

    /// The stored key of a fired window's earlier events: apart from every key a route's
    /// `window.key` can give (those never hold a control character before "fired:").
    static func storedKey(firedBy eventID: String) -> String { "\u{1}fired:" + eventID }

    static func firingEvent(ofStoredKey key: String) -> String? {
        key.hasPrefix("\u{1}fired:") ? String(key.dropFirst("\u{1}fired:".count)) : nil
    }

    /// The actions gathered since the last call, for the owner.
    mutating func takeOutput() -> [Action] {
        defer { output.removeAll(keepingCapacity: true) }
        return output
    }

    mutating func notice(_ notice: RouteNotice) {
        output.append(.notice(notice))
    }
}

/// The agent's circuit breaker, as routes see it: shared by every route of the agent (opened
/// by any route's failures, closed by any route's success).
protocol RouteBreakerView<Instant> {
    associatedtype Instant: InstantProtocol where Instant.Duration == Duration
    /// Whether calls go through without a decision: looking changes nothing.
    var isClosed: Bool { get }
    func decide(now: Instant) -> CircuitBreaker<Instant>.Decision
    /// True when this success closed the breaker.
    func succeeded() -> Bool
    /// True when this failure opened the breaker.
    func failed(now: Instant) -> Bool
}
