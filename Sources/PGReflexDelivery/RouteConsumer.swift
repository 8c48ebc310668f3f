public import Logging
import PGReflexAgentContract
public import PGReflexAgents
import PGReflexDispatch
import PGReflexFiles
public import PGReflexJournal
public import PGReflexRouter
public import PGReflexState
public import PGReflexStatus
import PGReflexThreads
public import PGReflexWire
import Synchronization

/// One route and its agent as a journal consumer of its own (`route:<name>`): it reads the
/// journal at the pace its agent drains it, decides each event (``Route``), puts the matches
/// through the route's flow control, and calls the agent, one call at a time per key, in
/// commit order, with retries, the agent's circuit breaker and the dead-letter queue.
///
/// Its cursor lives in the state store and moves in the same transaction that records which
/// events are done, dead-lettered or skipped: after a crash, an event is either done (and not
/// run again) or after the cursor (and run again, unless the agent's receipts show it took
/// effect).
///
/// An actor on a thread of its own: journal reads block, and a `file` agent's writes run on
/// the same thread, so a slow agent slows only its own route.
public actor RouteConsumer {
    /// Following the journal as `run` does, or re-delivering a range (`replay --route`).
    public enum Mode: Sendable {
        case follow
        /// Re-delivers [from, to]; the cursor does not move. `force` runs events recorded as
        /// done again.
        case replay(from: LSN, to: LSN?, force: Bool)
    }

    /// What the route did, for logs, the stop line and tests.
    public struct Counts: Sendable, Equatable {
        public var read = 0
        public var filtered = 0
        /// Passed the route's tests (tables, ops, changed columns, condition).
        public var matched = 0
        public var calls = 0
        public var succeeded = 0
        public var retries = 0
        public var deadLettered = 0
        public var duplicates = 0
        public var superseded = 0
        /// Calls whose decision waited for the agent's action limit (each wait once).
        public var deferred = 0
        public var skipped: [Skip.Reason: Int] = [:]
        public var held = 0
        public var peakRunning = 0
    }

    struct Completion: Sendable {
        var call: Int
        var outcome: AgentOutcome
    }

    /// Where calls report back: filled by the calls' tasks, emptied by the consumer.
    final class Inbox: Sendable {
        let completions = Mutex<[Completion]>([])
        let wake = WakeSignal()

        func post(_ completion: Completion) {
            completions.withLock { $0.append(completion) }
            wake.notify()
        }

        func post(contentsOf batch: [Completion]) {
            completions.withLock { $0.append(contentsOf: batch) }
            wake.notify()
        }

        func take() -> [Completion] {
            completions.withLock { items in
                defer { items.removeAll() }
                return items
            }
        }
    }

    public let settings: RouteSettings
    let journalDirectory: String
    let runtime: AgentRuntime
    let store: any StateStore
    let channel: JournalChannel
    let mode: Mode
    let logger: Logger
    let thread: DedicatedThread
    let clock = ContinuousClock()
    let inbox = Inbox()
    let stop = StopFlag()
    /// How long a graceful stop waits for the calls in flight.
    let drainTimeout: Duration

    var reader: JournalReader
    var watermark: AcknowledgementWatermark
    var queue: KeyedQueue<Job>
    var throttle: GCRA<ContinuousClock.Instant>?
    var rateLimit: GCRA<ContinuousClock.Instant>?
    var debounce: Debounce<ContinuousClock.Instant, RoutedEvent>?
    var batcher: Batcher<ContinuousClock.Instant, RoutedEvent>?
    var window: SlidingWindow<UnixTime, RoutedEvent>?
    /// Windows that fired before a restart and whose call had not finished: the earlier events,
    /// by the id of the event that fired them. That event, read again, fires the same call.
    var firedWindows: [String: [RoutedEvent]] = [:]
    var nextWindowPrune: ContinuousClock.Instant
    var nextKeyPrune: ContinuousClock.Instant
    /// The agent answers at once (``Agent/answersAtOnce``): its calls finish before the next
    /// pass, so `concurrency` cannot bind them, and a pass hands over up to
    /// `callsPerPassAtOnce` (a `file` agent syncs once for them all).
    let agentAnswersAtOnce: Bool
    static let callsPerPassAtOnce = 1024
    /// `shed: {action: pause}` holds the calls now.
    var shedPaused = false
    /// Calls started and not yet recorded: the job, and the agent's receipt mark before it.
    var outstanding: [Int: (job: Job, mark: Int64?, started: ContinuousClock.Instant)] = [:]
    var nextCall = 0
    /// Matched events not yet done (queued, waiting in a debounce or batch, running, held).
    var pendingEvents = 0
    var pending = StateCommit()
    var cursorMoved = false
    /// When the state store last committed: commits are grouped (one fsync per interval).
    var lastCommit: ContinuousClock.Instant
    /// When the records of events no replay can reach are next pruned.
    var nextPrune: ContinuousClock.Instant
    /// Done records may exist after the cursor up to this id (out-of-order completions before
    /// a crash, or a replayed range): only events up to it are looked up.
    var lastDone: String?
    /// Event ids the agent's receipts show took effect, though not recorded as done.
    var receipted: Set<String> = []
    /// The cause a tool's tag message gave its transaction (its commit LSN).
    var causeTag: (commitLSN: LSN, cause: AgentCausation.Cause)?
    /// Idempotency keys run (or started) lately, with when.
    var idempotencyRun: [String: ContinuousClock.Instant] = [:]
    /// Keys held by a schema pin, and the events held.
    var heldKeys: Set<String> = []
    var heldEvents: [RoutedEvent] = []
    var heldAlerted: Set<String> = []
    var nextHoldReminder: ContinuousClock.Instant
    var disabledUntil: ContinuousClock.Instant?
    var random = SystemRandomNumberGenerator()
    let replayEnd: EventPosition?
    /// Read from outside the actor only.
    public internal(set) var counts = Counts()
    /// When a held-back call may start next (a throttle, a backoff, an open breaker).
    var nextAdmission: ContinuousClock.Instant?
    let status: PipelineStatus
    let metrics: RouteMetrics
    /// Commit to agent start (first attempts), and the calls' own durations, in microseconds.
    var commitToAgent = LatencyHistogram()
    var callDuration = LatencyHistogram()
    var nextPublish: ContinuousClock.Instant
    var publishDue = false

    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// Opens the route's cursor (a first start saves the configured `start` at once) and
    /// registers its floor with the channel before capture appends.
    public init(settings: RouteSettings, runtime: AgentRuntime, store: any StateStore, journalDirectory: String,
                channel: JournalChannel, mode: Mode = .follow, drainTimeout: Duration = .seconds(30),
                status: PipelineStatus = PipelineStatus(), logger: Logger) async throws {
        var logger = logger
        logger[metadataKey: "route"] = "\(settings.name)"
        logger[metadataKey: "agent"] = "\(runtime.name)"
        self.settings = settings
        self.journalDirectory = journalDirectory
        self.runtime = runtime
        self.store = store
        self.channel = channel
        self.mode = mode
        self.drainTimeout = drainTimeout
        self.logger = logger
        self.status = status
        metrics = RouteMetrics(route: settings.name, agent: runtime.name, enabled: status.metricsEnabled)
        thread = DedicatedThread()
        agentAnswersAtOnce = runtime.agent.answersAtOnce
        queue = KeyedQueue(limit: settings.concurrency.limit, groupLimit: settings.concurrency.key == nil ? nil : settings.concurrency.limit)
        throttle = settings.throttle.map { GCRA(limit: $0.limit, period: $0.period, burst: $0.burst) }
        // Inngest's rate limit lets `limit` events through in any one period, back to back.
        rateLimit = settings.rateLimit.map { GCRA(limit: $0.limit, period: $0.period, burst: $0.limit) }
        debounce = settings.debounce.map { Debounce(period: $0.period, timeout: $0.timeout) }
        batcher = settings.batch.map { Batcher(maxSize: $0.maxSize, timeout: $0.timeout) }
        window = settings.window.map { SlidingWindow(count: $0.count, period: $0.period) }
        let now = ContinuousClock.now
        nextWindowPrune = now
        nextKeyPrune = now
        lastCommit = now
        nextPrune = now
        nextHoldReminder = now
        nextPublish = now
        lastDone = try await store.lastDone(route: settings.name, agent: runtime.name)

        switch mode {
        case .follow:
            let start: EventPosition?
            if let cursor = try await store.cursor(settings.consumerName) {
                start = cursor.commitLSN == 0 && cursor.ordinal == 0 ? nil : EventPosition(commitLSN: LSN(cursor.commitLSN), ordinal: cursor.ordinal)
                if let mark = cursor.agentMark {
                    receipted = try runtime.agent.receipts(since: mark)
                    if !receipted.isEmpty {
                        logger.notice("the agent's receipts show calls that took effect before a crash but were not recorded: they are not run again",
                                      metadata: ["route.receipted_events": "\(receipted.count)"])
                    }
                }
            } else {
                start = try settings.start.initialPosition(journalDirectory: journalDirectory, consumer: settings.consumerName, logger: logger)
                try await store.commit(StateCommit(cursor: Self.storedCursor(settings.consumerName, start, mark: runtime.agent.receiptMark())))
            }
            reader = JournalReader(directory: journalDirectory, after: start)
            watermark = AcknowledgementWatermark(resumingAfter: start)
            replayEnd = nil
            channel.update(settings.consumerName, .init(floor: start, pausesCapture: true))
        case .replay(let from, let to, _):
            let start = StartPosition.before(from)
            reader = JournalReader(directory: journalDirectory, after: start)
            watermark = AcknowledgementWatermark(resumingAfter: start)
            replayEnd = to.map { EventPosition(commitLSN: $0, ordinal: Int(UInt32.max)) }
        }
        if var window {
            // Open windows outlive a restart in the state store; the cursor has passed them.
            for entry in try await store.windowEntries(route: settings.name) {
                let event = RoutedEvent(position: nil, id: entry.eventID, table: entry.table, op: entry.op, commitTime: entry.at,
                                        envelope: entry.envelope, key: entry.key)
                if let firing = Self.firingEvent(ofStoredKey: entry.key) {
                    firedWindows[firing, default: []].append(event)
                    pendingEvents += 1
                    continue
                }
                let (_, expired) = window.add(event, key: entry.key, at: UnixTime(microseconds: entry.at))
                pendingEvents += 1
                for old in expired { leaveWindow(old) }
            }
            self.window = window
        }
    }

    deinit {
        thread.shutdown()
    }

    static func storedCursor(_ name: String, _ position: EventPosition?, mark: Int64?) -> StoredCursor {
        StoredCursor(consumer: name, commitLSN: position?.commitLSN.rawValue ?? 0, ordinal: position?.ordinal ?? 0, agentMark: mark)
    }

    /// Asks the route to stop: it starts nothing more, waits up to `drainTimeout` for the calls
    /// in flight, records what finished, and returns.
    public nonisolated func requestStop() {
        stop.request()
        inbox.wake.notify()
    }

    nonisolated var stopRequested: Bool { stop.isRequested }

    /// Runs until capture has finished and everything durable is handled (or, in a replay, the
    /// range is), or a stop.
    public func run() async throws {
        defer {
            logger.info("route stopped", metadata: [
                "route.read": "\(counts.read)", "route.filtered": "\(counts.filtered)", "route.calls": "\(counts.calls)",
                "route.succeeded": "\(counts.succeeded)", "route.retries": "\(counts.retries)",
                "route.dead_lettered": "\(counts.deadLettered)", "route.duplicates": "\(counts.duplicates)",
                "route.superseded": "\(counts.superseded)", "route.deferred": "\(counts.deferred)", "route.skipped": "\(counts.skipped.values.reduce(0, +))",
                "route.held": "\(heldEvents.count)", "route.peak_running": "\(counts.peakRunning)", "route.position": "\(watermark.confirmed?.description ?? "-")",
            ])
        }
        let inbox = self.inbox
        let appended = channel.appended
        // Taken before the loop first reads the mark: an append between that read and the task
        // below starting would otherwise be missed, and a route whose journal already held its
        // events (a restart on an idle database) slept until the next change arrived.
        let appendedBeforeFirstRead = appended.generation
        // Discarding: a finished call's task is freed at once (its outcome went to the inbox).
        try await withThrowingDiscardingTaskGroup { group in
            // Journal appends wake this route as its calls' completions do.
            group.addTask {
                var seen = appendedBeforeFirstRead
                while !Task.isCancelled {
                    await appended.wait(since: seen)
                    seen = appended.generation
                    inbox.wake.notify()
                }
            }
            defer { group.cancelAll() }
            try await loop(group: &group)
            try await drain(group: &group)
        }
    }

    func loop(group: inout ThrowingDiscardingTaskGroup<any Error>) async throws {
        var rangeDone = false
        // After capture has finished by itself (end LSN, idleness) a stop still handles what is
        // durable: that is what such a run promises.
        while !Task.isCancelled && !(stopRequested && !channel.isFinished) {
            let seen = inbox.wake.generation
            let finished: Bool
            if case .follow = mode { finished = channel.isFinished } else { finished = rangeDone }
            try handleCompletions()
            var read = 0
            if !rangeDone && pendingEvents < settings.maxBufferedEvents && watermark.inFlight < settings.maxBufferedEvents * 10 {
                let mark = channel.mark
                let (count, matched) = try readBatch(upTo: mark, max: settings.maxBufferedEvents - pendingEvents)
                read = count
                try await admit(matched)
                if case .replay = mode, count == 0 {
                    rangeDone = true
                    continue
                }
            }
            let now = clock.now
            if finished && read == 0 { flushAll(now: now) }
            flushDue(now: now)
            try start(group: &group, now: now)
            let done = finished && read == 0 && outstanding.isEmpty && queue.queued == 0
            if done || commitIsDue(now: now) { try await commit(now: now) }
            publish(now: now, force: done)
            if done { break }
            if read == 0 {
                remindHolds(now: now)
                if let deadline = [nextDeadline(now: now), commitDeadline, publishDeadline].compactMap({ $0 }).min() {
                    await inbox.wake.wait(since: seen, timeout: max(.zero, now.duration(to: deadline)))
                } else {
                    await inbox.wake.wait(since: seen)
                }
            }
        }
    }

    /// After a stop: waits for the calls in flight up to the deadline, records what finished;
    /// what did not stays after the cursor and runs again next time.
    func drain(group: inout ThrowingDiscardingTaskGroup<any Error>) async throws {
        let deadline = clock.now.advanced(by: drainTimeout)
        while !outstanding.isEmpty && clock.now < deadline {
            let seen = inbox.wake.generation
            try handleCompletions(retrying: false)
            try await commit(now: clock.now)
            if outstanding.isEmpty { break }
            await inbox.wake.wait(since: seen, timeout: clock.now.duration(to: deadline))
        }
        try handleCompletions(retrying: false)
        if !outstanding.isEmpty {
            logger.warning("calls still running at the stop's deadline were abandoned: their events run again at the next start",
                           metadata: ["route.abandoned_calls": "\(outstanding.count)"])
        }
        try await commit(now: clock.now)
        if case .follow = mode { try await prune(now: clock.now) }
        publish(now: clock.now, force: true)
    }
}
