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
/// journal at the pace its agent drains it, and does what its ``RouteStateMachine`` decides:
/// which events match, what the route's flow control does with them, which calls start (one at
/// a time per key, in commit order, with retries, the agent's circuit breaker and the
/// dead-letter queue) and what their outcomes record. The actor holds only the reader, the
/// store, the calls' task group and their inbox; it asks the store, calls the agent, commits
/// and logs.
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
        /// `redecide` asks acting agents again although their calls have recorded decisions.
        case replay(from: LSN, to: LSN?, force: Bool, redecide: Bool = false)
    }

    /// What the route did, for logs, the stop line and tests.
    public typealias Counts = RouteCounts

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
    /// Every decision; the actor reads, calls, records and logs.
    var machine: RouteStateMachine<ContinuousClock.Instant>
    var reader: JournalReader
    let replayEnd: EventPosition?
    let status: PipelineStatus
    let metrics: RouteMetrics
    var nextPublish: ContinuousClock.Instant
    var publishDue = false

    /// Read from outside the actor only.
    public var counts: Counts { machine.counts }

    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// Opens the route's cursor (a first start saves the configured `start` at once) and
    /// registers its floor with the channel before capture appends.
    public init(settings: RouteSettings, runtime: AgentRuntime, store: any StateStore, journalDirectory: String,
                channel: JournalChannel, mode: Mode = .follow, drainTimeout: Duration = .seconds(30),
                status: PipelineStatus = PipelineStatus(), sharedValues: EventValuesCache? = nil, logger: Logger) async throws {
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
        metrics = RouteMetrics(route: settings.name, agent: runtime.name)
        thread = DedicatedThread()
        let now = ContinuousClock.now
        nextPublish = now
        let loaded = try await RouteConsumer.loadMachine(settings: settings, agent: runtime.agent, store: store, journalDirectory: journalDirectory,
                                            mode: mode, now: now, noticesCalls: logger.logLevel <= .info, sharedValues: sharedValues,
                                            tally: RouteTally(enabled: status.metricsEnabled), logger: logger)
        machine = loaded.machine
        reader = JournalReader(directory: journalDirectory, after: loaded.start)
        if case .replay(_, let to?, _, _) = mode {
            replayEnd = EventPosition(commitLSN: to, ordinal: Int(UInt32.max))
        } else {
            replayEnd = nil
        }
        if case .follow = mode { channel.update(settings.consumerName, .init(floor: loaded.start, pausesCapture: true)) }
    }

    deinit {
        thread.shutdown()
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
                "route.held": "\(machine.stages.heldEvents.count)", "route.peak_running": "\(counts.peakRunning)",
                "route.position": "\(machine.records.watermark.confirmed?.description ?? "-")",
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
            try handleCompletions(group: &group)
            var read = 0
            let buffered = machine.pendingEvents
            if !rangeDone && buffered < settings.maxBufferedEvents && machine.records.watermark.inFlight < settings.maxBufferedEvents * 10 {
                read = try await readAndAdmit(upTo: channel.mark, max: settings.maxBufferedEvents - buffered, group: &group)
                if case .replay = mode, read == 0 {
                    rangeDone = true
                    continue
                }
            }
            let now = clock.now
            if finished && read == 0 { try machine.flushAll(now: now, wallNow: wallMicros()) }
            try machine.timersFired(now: now, wallNow: wallMicros())
            try start(group: &group, now: now)
            let done = finished && read == 0 && machine.isIdle
            if done || machine.commitIsDue(now: now) { try await commit(now: now) }
            publish(now: now, force: done)
            if done { break }
            if read == 0 {
                try perform(machine.remindHolds(now: now), group: &group)
                if let deadline = [machine.nextDeadline(now: now), publishDeadline].compactMap({ $0 }).min() {
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
        while !machine.calls.outstanding.isEmpty && clock.now < deadline {
            let seen = inbox.wake.generation
            try handleCompletions(retrying: false, group: &group)
            try await commit(now: clock.now)
            if machine.calls.outstanding.isEmpty { break }
            await inbox.wake.wait(since: seen, timeout: clock.now.duration(to: deadline))
        }
        try handleCompletions(retrying: false, group: &group)
        if !machine.calls.outstanding.isEmpty {
            logger.warning("calls still running at the stop's deadline were abandoned: their events run again at the next start",
                           metadata: ["route.abandoned_calls": "\(machine.calls.outstanding.count)"])
        }
        try await commit(now: clock.now)
        if case .follow = mode { try await prune() }
        publish(now: clock.now, force: true)
    }
}
