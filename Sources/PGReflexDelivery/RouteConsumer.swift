public import Logging
public import PGReflexDispatch
public import PGReflexJournal
import PGReflexRouter
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
        public var calls = 0
        public var succeeded = 0
        public var retries = 0
        public var deadLettered = 0
        public var duplicates = 0
        public var superseded = 0
        public var skipped: [Skip.Reason: Int] = [:]
        public var held = 0
        public var peakRunning = 0
    }

    /// One matched event inside the route.
    struct RoutedEvent: Sendable {
        var position: EventPosition?
        var id: String
        var table: String
        var op: String
        var commitTime: Int64
        var envelope: [UInt8]
        /// The ordering key's value.
        var key: String

        var agentEvent: AgentEvent { AgentEvent(id: id, table: table, op: op, envelope: envelope) }
    }

    /// One call: an event, or a batch or window of them.
    struct Job: Sendable {
        var events: [RoutedEvent]
        var key: String
        var group: String?
        var priority: Int
        var attempt = 0
        var notBefore: ContinuousClock.Instant?
        var firstAttempt: Int64?
        var idempotencyKey: String?
        /// The window the events came from: their stored entries go when the call is done.
        var fromWindow = false
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

        func take() -> [Completion] {
            completions.withLock { items in
                defer { items.removeAll() }
                return items
            }
        }
    }

    public let settings: RouteSettings
    let runtime: AgentRuntime
    let store: any StateStore
    let channel: JournalChannel
    let mode: Mode
    let logger: Logger
    private let thread: DedicatedThread
    private let clock = ContinuousClock()
    private let inbox = Inbox()
    private let stopState = Mutex(false)
    /// How long a graceful stop waits for the calls in flight.
    let drainTimeout: Duration

    private var reader: JournalReader
    private var watermark: AcknowledgementWatermark
    private var queue: KeyedQueue<Job>
    private var throttle: GCRA<ContinuousClock.Instant>?
    private var rateLimit: GCRA<ContinuousClock.Instant>?
    private var debounce: Debounce<ContinuousClock.Instant, RoutedEvent>?
    private var batcher: Batcher<ContinuousClock.Instant, RoutedEvent>?
    private var window: SlidingWindow<UnixTime, RoutedEvent>?
    private var nextWindowPrune: ContinuousClock.Instant
    /// Calls started and not yet recorded: the job, and the agent's receipt mark before it.
    private var outstanding: [Int: (job: Job, mark: Int64?)] = [:]
    private var nextCall = 0
    /// Matched events not yet done (queued, waiting in a debounce or batch, running, held).
    private var pendingEvents = 0
    private var pending = StateCommit()
    private var cursorMoved = false
    /// Done records may exist after the cursor up to this id (out-of-order completions before
    /// a crash, or a replayed range): only events up to it are looked up.
    private var lastDone: String?
    /// Event ids the agent's receipts show took effect, though not recorded as done.
    private var receipted: Set<String> = []
    /// Idempotency keys run (or started) lately, with when.
    private var idempotencyRun: [String: ContinuousClock.Instant] = [:]
    /// Keys held by a schema pin, and the events held.
    private var heldKeys: Set<String> = []
    private var heldEvents: [RoutedEvent] = []
    private var heldAlerted: Set<String> = []
    private var nextHoldReminder: ContinuousClock.Instant
    private var disabledUntil: ContinuousClock.Instant?
    private var random = SystemRandomNumberGenerator()
    private let replayEnd: EventPosition?
    public private(set) var counts = Counts()

    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// Opens the route's cursor (a first start saves the configured `start` at once) and
    /// registers its floor with the channel before capture appends.
    public init(settings: RouteSettings, runtime: AgentRuntime, store: any StateStore, journalDirectory: String,
                channel: JournalChannel, mode: Mode = .follow, drainTimeout: Duration = .seconds(30), logger: Logger) async throws {
        var logger = logger
        logger[metadataKey: "route"] = "\(settings.name)"
        logger[metadataKey: "agent"] = "\(runtime.name)"
        self.settings = settings
        self.runtime = runtime
        self.store = store
        self.channel = channel
        self.mode = mode
        self.drainTimeout = drainTimeout
        self.logger = logger
        thread = DedicatedThread()
        queue = KeyedQueue(limit: settings.concurrency.limit, groupLimit: settings.concurrency.key == nil ? nil : settings.concurrency.limit)
        throttle = settings.throttle.map { GCRA(limit: $0.limit, period: $0.period, burst: $0.burst) }
        // Inngest's rate limit lets `limit` events through in any one period, back to back.
        rateLimit = settings.rateLimit.map { GCRA(limit: $0.limit, period: $0.period, burst: $0.limit) }
        debounce = settings.debounce.map { Debounce(period: $0.period, timeout: $0.timeout) }
        batcher = settings.batch.map { Batcher(maxSize: $0.maxSize, timeout: $0.timeout) }
        window = settings.window.map { SlidingWindow(count: $0.count, period: $0.period) }
        let now = ContinuousClock.now
        nextWindowPrune = now
        nextHoldReminder = now
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
                let (_, expired) = window.add(event, key: entry.key, at: UnixTime(microseconds: entry.at))
                pendingEvents += 1 - expired.count
                for old in expired { pending.windowRemoved.append((settings.name, old.id)) }
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
        stopState.withLock { $0 = true }
        inbox.wake.notify()
    }

    private nonisolated var stopRequested: Bool { stopState.withLock { $0 } }

    /// Runs until capture has finished and everything durable is handled (or, in a replay, the
    /// range is), or a stop.
    public func run() async throws {
        defer {
            logger.info("route stopped", metadata: [
                "route.read": "\(counts.read)", "route.filtered": "\(counts.filtered)", "route.calls": "\(counts.calls)",
                "route.succeeded": "\(counts.succeeded)", "route.retries": "\(counts.retries)",
                "route.dead_lettered": "\(counts.deadLettered)", "route.duplicates": "\(counts.duplicates)",
                "route.superseded": "\(counts.superseded)", "route.skipped": "\(counts.skipped.values.reduce(0, +))",
                "route.held": "\(heldEvents.count)", "route.peak_running": "\(counts.peakRunning)", "route.position": "\(watermark.confirmed?.description ?? "-")",
            ])
        }
        let inbox = self.inbox
        let appended = channel.appended
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Journal appends wake this route as its calls' completions do.
            group.addTask {
                var seen = appended.generation
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

    private func loop(group: inout ThrowingTaskGroup<Void, any Error>) async throws {
        var rangeDone = false
        // After capture has finished by itself (end LSN, idleness) a stop still handles what is
        // durable: that is what such a run promises.
        while !Task.isCancelled && !(stopRequested && !channel.isFinished) {
            let seen = inbox.wake.generation
            let finished: Bool
            if case .follow = mode { finished = channel.isFinished } else { finished = rangeDone }
            try await handleCompletions()
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
            start(group: &group, now: now)
            try await commit()
            if finished && read == 0 && outstanding.isEmpty && queue.queued == 0 {
                break
            }
            if read == 0 {
                remindHolds(now: now)
                if let deadline = nextDeadline(now: now) {
                    await inbox.wake.wait(since: seen, timeout: max(.zero, now.duration(to: deadline)))
                } else {
                    await inbox.wake.wait(since: seen)
                }
            }
        }
    }

    /// After a stop: waits for the calls in flight up to the deadline, records what finished;
    /// what did not stays after the cursor and runs again next time.
    private func drain(group: inout ThrowingTaskGroup<Void, any Error>) async throws {
        let deadline = clock.now.advanced(by: drainTimeout)
        while !outstanding.isEmpty && clock.now < deadline {
            let seen = inbox.wake.generation
            try await handleCompletions(retrying: false)
            try await commit()
            if outstanding.isEmpty { break }
            await inbox.wake.wait(since: seen, timeout: clock.now.duration(to: deadline))
        }
        try await handleCompletions(retrying: false)
        if !outstanding.isEmpty {
            logger.warning("calls still running at the stop's deadline were abandoned: their events run again at the next start",
                           metadata: ["route.abandoned_calls": "\(outstanding.count)"])
        }
        try await commit()
    }

    // MARK: Reading and deciding

    /// Reads up to `max` records; completes those the route does not match; returns the rest.
    private func readBatch(upTo mark: JournalChannel.DurableMark, max: Int) throws -> (Int, [(RoutedEvent, CELActivation?)]) {
        var matched: [(RoutedEvent, CELActivation?)] = []
        let route = settings.route
        let read = try reader.read(upTo: mark, through: replayEnd, maxRecords: Swift.max(1, max)) { record in
            counts.read += 1
            try watermark.delivered(record.position, endsTransactionAt: record.transactionEnd)
            guard let metadata = record.resolvedMetadata else {
                try complete(record.position)
                return
            }
            let op = String(UnicodeScalar(metadata.operation))
            var activation: CELActivation?
            let verdict = route.verdict(table: metadata.table, op: op) {
                if activation == nil { activation = (try? CELValue.activation(envelope: record.envelope)) ?? [:] }
                return activation!
            }
            guard verdict == .matches else {
                counts.filtered += 1
                try complete(record.position)
                return
            }
            let event = RoutedEvent(position: record.position, id: Self.eventID(record.position), table: metadata.table, op: op,
                                    commitTime: metadata.commitTime, envelope: record.envelope, key: "")
            matched.append((event, activation))
        }
        return (read, matched)
    }

    /// The envelope's `id` for a position: commit LSN and ordinal in fixed-width hex.
    static func eventID(_ position: EventPosition) -> String {
        func hex(_ value: UInt64, _ digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: Swift.max(0, digits - text.count)) + text
        }
        return hex(position.commitLSN.rawValue, 16) + "-" + hex(UInt64(position.ordinal), 8)
    }

    /// Puts matched events through the route's stages, in commit order: duplicates, schema
    /// pins, idempotency, the rate limit, shedding, then debounce, batch or window, then the queue.
    private func admit(_ matched: [(RoutedEvent, CELActivation?)]) async throws {
        guard !matched.isEmpty else { return }
        var doneIDs = Set<String>()
        let force: Bool
        if case .replay(_, _, true) = mode { force = true } else { force = false }
        if !force, let lastDone {
            let keys = matched.filter { $0.0.id <= lastDone }.map { DoneKey(eventID: $0.0.id, route: settings.name, agent: runtime.name) }
            doneIDs = Set(try await store.done(among: keys, since: nil).map(\.eventID))
        }
        var idempotencyValues: [String: String] = [:]
        if let idempotency = settings.idempotency, !force {
            for (event, activation) in matched {
                if let value = Self.keyValue(idempotency.key, activation: activation, envelope: event.envelope) { idempotencyValues[event.id] = value }
            }
            let now = clock.now
            let unknown = Set(idempotencyValues.values).filter { idempotencyRun[$0] == nil }
            let since = wallMicros() - UnixTime.micros(idempotency.period)
            let found = try await store.done(among: unknown.map { DoneKey(eventID: "idempotency:" + $0, route: settings.name, agent: runtime.name) },
                                             since: since)
            for key in found { idempotencyRun[String(key.eventID.dropFirst("idempotency:".count))] = now }
        }
        let now = clock.now
        let wallNow = wallMicros()
        for (var event, activation) in matched {
            let position = event.position!
            pendingEvents += 1
            if doneIDs.contains(event.id) || receipted.contains(event.id) {
                counts.duplicates += 1
                try finish(event)
                continue
            }
            event.key = settings.key.flatMap { Self.keyValue($0, activation: activation, envelope: event.envelope) } ?? Self.defaultKey(event)
            if let pins = settings.schemaVersions[event.table], let version = schemaVersion(of: event), !pins.contains(version) {
                hold(event, version: version)
                continue
            }
            if heldKeys.contains(event.key) {
                heldEvents.append(event)
                counts.held += 1
                continue
            }
            if let value = idempotencyValues[event.id] {
                if let last = idempotencyRun[value], last.duration(to: now) < settings.idempotency!.period {
                    skip(event, .idempotency, at: wallNow)
                    try finish(event)
                    continue
                }
                idempotencyRun[value] = now
            }
            if let rate = settings.rateLimit {
                let key = rate.key.flatMap { Self.keyValue($0, activation: activation, envelope: event.envelope) } ?? ""
                if rateLimit!.take(key, now: now) != nil {
                    skip(event, .rateLimit, at: wallNow)
                    try finish(event)
                    continue
                }
            }
            if let shed = settings.shed, event.commitTime > 0, wallNow - event.commitTime > UnixTime.micros(shed.lagOver), shed.action == .skip {
                skip(event, .shed, at: wallNow)
                try finish(event)
                continue
            }
            let group = settings.concurrency.key.flatMap { Self.keyValue($0, activation: activation, envelope: event.envelope) }
            let priority = settings.priority.map { Self.priorityValue($0, activation: activation, envelope: event.envelope) } ?? 0
            let idempotencyKey = idempotencyValues[event.id]
            if let settingsWindow = settings.window {
                let key = settingsWindow.key.flatMap { Self.keyValue($0, activation: activation, envelope: event.envelope) } ?? event.key
                let (fired, expired) = window!.add(event, key: key, at: UnixTime(microseconds: event.commitTime))
                for old in expired { try leaveWindow(old) }
                if let fired {
                    // The firing event is still after the cursor; the others are in the store
                    // until the call is done.
                    enqueue(Job(events: fired, key: key, group: group, priority: priority, idempotencyKey: idempotencyKey, fromWindow: true))
                } else {
                    pending.windowAdded.append(WindowEntry(route: settings.name, key: key, eventID: event.id, table: event.table, op: event.op,
                                                           at: event.commitTime, envelope: event.envelope))
                    // Kept in the store from now on: the cursor may pass it.
                    try complete(position)
                }
            } else if let settingsDebounce = settings.debounce {
                let key = settingsDebounce.key.flatMap { Self.keyValue($0, activation: activation, envelope: event.envelope) } ?? event.key
                for case .superseded(let replaced) in debounce!.received(event, key: key, now: now) {
                    counts.superseded += 1
                    try finish(replaced)
                }
            } else if let settingsBatch = settings.batch {
                let key = settingsBatch.key.flatMap { Self.keyValue($0, activation: activation, envelope: event.envelope) } ?? ""
                if let full = batcher!.add(event, key: key, now: now) {
                    enqueue(Job(events: full, key: "batch:" + key, group: nil, priority: priority))
                }
            } else {
                enqueue(Job(events: [event], key: event.key, group: group, priority: priority, idempotencyKey: idempotencyKey))
            }
        }
    }

    /// A key expression's value as text; nil when it has none for this event.
    static func keyValue(_ expression: CELExpression, activation: CELActivation?, envelope: [UInt8]) -> String? {
        guard let activation = activation ?? (try? CELValue.activation(envelope: envelope)),
              let value = try? expression.evaluate(activation) else { return nil }
        switch value {
        case .null: return nil
        case .string(let text): return text
        default: return value.description
        }
    }

    static func priorityValue(_ expression: CELExpression, activation: CELActivation?, envelope: [UInt8]) -> Int {
        guard let activation = activation ?? (try? CELValue.activation(envelope: envelope)),
              let value = try? expression.evaluate(activation) else { return 0 }
        switch value {
        case .int(let i): return Int(clamping: i)
        case .uint(let u): return Int(clamping: u)
        case .double(let d) where d.isFinite: return Int(d.rounded())
        case .decimal(let d): return Int(Double(d.description) ?? 0)
        default: return 0
        }
    }

    /// The table's primary key, as the journal hashed it: same row, same key.
    static func defaultKey(_ event: RoutedEvent) -> String {
        event.table + "/" + keyHash(event.envelope)
    }

    private static func keyHash(_ envelope: [UInt8]) -> String {
        // The envelope's last field is `"key":…`; the journal's metadata hashes the same bytes.
        let marker = Array(#","key":"#.utf8)
        guard envelope.count > marker.count else { return "" }
        var index = envelope.count - marker.count
        while index >= 0 {
            if envelope[index] == marker[0] && Array(envelope[index..<index + marker.count]) == marker {
                return String(JournalRecord.Metadata.keyHash(envelope[(index + marker.count)...]), radix: 16)
            }
            index -= 1
        }
        return ""
    }

    private func schemaVersion(of event: RoutedEvent) -> Int? {
        guard case .map(let source)? = (try? CELValue.activation(envelope: event.envelope))?["source"],
              case .int(let version)? = source["schema_version"] else { return nil }
        return Int(version)
    }

    private func hold(_ event: RoutedEvent, version: Int) {
        heldKeys.insert(event.key)
        heldEvents.append(event)
        counts.held += 1
        let alert = "\(event.table)@\(version)"
        if heldAlerted.insert(alert).inserted {
            logger.error("holding the route's events of a schema version it is not pinned to: other routes go on. Review the change, then add the version to the route's schema_versions", metadata: [
                "table": "\(event.table)", "schema.version": "\(version)",
                "route.pinned": "\(settings.schemaVersions[event.table]!.sorted().map(String.init).joined(separator: ","))",
                "journal.held_from": "\(event.position?.description ?? "-")",
            ])
        }
    }

    private func remindHolds(now: ContinuousClock.Instant) {
        guard !heldEvents.isEmpty, now >= nextHoldReminder else { return }
        nextHoldReminder = now.advanced(by: .seconds(30))
        logger.error("still holding events of schema versions the route is not pinned to", metadata: [
            "route.held_events": "\(heldEvents.count)", "route.held_versions": "\(heldAlerted.sorted().joined(separator: ","))",
        ])
    }

    private func skip(_ event: RoutedEvent, _ reason: Skip.Reason, at: Int64) {
        counts.skipped[reason, default: 0] += 1
        pending.skips.append(Skip(eventID: event.id, route: settings.name, table: event.table, reason: reason, at: at))
        let total = counts.skipped[reason]!
        if total == 1 || total.isMultiple(of: 1000) {
            logger.warning("skipped events (each recorded in the state store)", metadata: ["route.skip_reason": "\(reason.rawValue)", "route.skipped": "\(total)"])
        }
    }

    private func leaveWindow(_ event: RoutedEvent) throws {
        pending.windowRemoved.append((settings.name, event.id))
        try finish(event)
    }

    private func enqueue(_ job: Job) {
        queue.enqueue(job, key: job.key, group: job.group, priority: job.priority)
    }

    // MARK: Timers

    private func flushDue(now: ContinuousClock.Instant) {
        if debounce != nil {
            for (_, event) in debounce!.due(now: now) {
                enqueue(Job(events: [event], key: event.key, group: nil, priority: 0))
            }
        }
        if batcher != nil {
            for (key, events) in batcher!.due(now: now) {
                enqueue(Job(events: events, key: "batch:" + key, group: nil, priority: 0))
            }
        }
        if window != nil, now >= nextWindowPrune {
            nextWindowPrune = now.advanced(by: .seconds(1))
            for old in window!.prune(before: UnixTime(microseconds: wallMicros())) { try? leaveWindow(old) }
        }
    }

    /// Capture has finished: what waits for a quiet period or a full batch goes now.
    private func flushAll(now: ContinuousClock.Instant) {
        if debounce != nil {
            for (_, event) in debounce!.due(now: .now.advanced(by: .seconds(86_400 * 365))) {
                enqueue(Job(events: [event], key: event.key, group: nil, priority: 0))
            }
        }
        if batcher != nil {
            for (key, events) in batcher!.drain() { enqueue(Job(events: events, key: "batch:" + key, group: nil, priority: 0)) }
        }
    }

    private var nextAdmission: ContinuousClock.Instant?

    private func nextDeadline(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var deadline = [debounce?.nextDeadline, batcher?.nextDeadline, nextAdmission].compactMap { $0 }.min()
        if window?.waiting ?? 0 > 0 { deadline = min(deadline ?? nextWindowPrune, nextWindowPrune) }
        return deadline
    }

    // MARK: Calls

    private func start(group: inout ThrowingTaskGroup<Void, any Error>, now: ContinuousClock.Instant) {
        nextAdmission = nil
        if let disabledUntil, now < disabledUntil {
            nextAdmission = disabledUntil
            return
        }
        if let shed = settings.shed, shed.action == .pause, captureBehind(by: shed.lagOver) {
            nextAdmission = now.advanced(by: .milliseconds(500))
            return
        }
        var breakerClosed = true
        let started = queue.start { job in
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
        for (_, var job) in started {
            job.attempt += 1
            if job.firstAttempt == nil { job.firstAttempt = wallMicros() }
            let id = nextCall
            nextCall += 1
            outstanding[id] = (job, runtime.agent.receiptMark())
            counts.calls += 1
            counts.peakRunning = max(counts.peakRunning, outstanding.count)
            let call = AgentCall(route: settings.name, events: job.events.map(\.agentEvent),
                                 idempotencyKey: Self.idempotencyKey(settings.name, runtime.name, job.idempotencyKey ?? job.events[0].id),
                                 attempt: job.attempt, timeout: settings.timeout)
            let agent = runtime.agent
            let inbox = self.inbox
            let timeout = settings.timeout
            group.addTask(executorPreference: thread) {
                let outcome = await Self.call(agent, call, timeout: timeout)
                inbox.post(Completion(call: id, outcome: outcome))
            }
        }
    }

    private func throttleKey(_ job: Job) -> String {
        guard let key = settings.throttle?.key else { return "" }
        return Self.keyValue(key, activation: nil, envelope: job.events[0].envelope) ?? ""
    }

    /// Capture is behind the database: the newest durable event is older than `lag`.
    private func captureBehind(by lag: Duration) -> Bool {
        let newest = channel.mark.commitTime
        return newest > 0 && wallMicros() - newest > UnixTime.micros(lag)
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

    private func handleCompletions(retrying: Bool = true) async throws {
        let now = clock.now
        for completion in inbox.take() {
            guard let (job, _) = outstanding.removeValue(forKey: completion.call) else { continue }
            switch completion.outcome {
            case .success:
                runtime.succeeded()
                counts.succeeded += 1
                queue.finished(key: job.key, group: job.group)
                for event in job.events { pending.done.append(DoneKey(eventID: event.id, route: settings.name, agent: runtime.name)) }
                if let key = job.idempotencyKey {
                    pending.done.append(DoneKey(eventID: "idempotency:" + key, route: settings.name, agent: runtime.name))
                }
                try finish(job)
            case .failure(let error):
                if error.isRetryable || error.code == .disabled {
                    if runtime.failed(now: now) {
                        logger.error("the agent failed too often in a row: its circuit breaker opened; events wait for it (none is dead-lettered meanwhile)",
                                     metadata: ["error": "\(error)"])
                    }
                } else {
                    runtime.succeeded()  // it answered: the agent is up, the event is bad
                }
                var next = job
                if error.code == .disabled {
                    disabledUntil = now.advanced(by: .seconds(60))
                    logger.error("the agent asked to be disabled: the route pauses and its events wait; nothing is lost",
                                 metadata: ["error": "\(error)"])
                    next.attempt -= 1
                    queue.retry(next, key: job.key, group: job.group, priority: job.priority)
                } else if error.isRetryable, retrying,
                          let delay = settings.retry.delay(before: job.attempt + 1, retryAfter: error.retryAfter, using: &random) {
                    counts.retries += 1
                    next.notBefore = now.advanced(by: delay)
                    logger.debug("retrying a failed call", metadata: ["attempt": "\(job.attempt)", "retry_in": "\(delay)", "error": "\(error)"])
                    queue.retry(next, key: job.key, group: job.group, priority: job.priority)
                } else if !retrying {
                    // Stopping: the events stay after the cursor and run again next time.
                    queue.finished(key: job.key, group: job.group)
                } else {
                    queue.finished(key: job.key, group: job.group)
                    deadLetter(job, error)
                    try finish(job)
                }
            }
        }
    }

    private func deadLetter(_ job: Job, _ error: AgentError) {
        let now = wallMicros()
        counts.deadLettered += job.events.count
        for event in job.events {
            pending.deadLetters.append(DeadLetter(
                eventID: event.id, route: settings.name, agent: runtime.name, table: event.table, envelope: event.envelope,
                errorClass: error.isRetryable ? "retryable_exhausted" : (error.code == .permanent ? "non_retryable" : error.code.rawValue),
                message: error.message, attempts: job.attempt, firstAttempt: job.firstAttempt ?? now, lastAttempt: now))
        }
        logger.error("dead-lettered: the agent could not handle the event (pgreflex dlq list shows it; dlq retry runs it again)", metadata: [
            "event.id": "\(job.events[0].id)", "events": "\(job.events.count)", "attempts": "\(job.attempt)", "error": "\(error)",
        ])
    }

    private func finish(_ job: Job) throws {
        if job.fromWindow, let last = job.events.last {
            for earlier in job.events.dropLast() { pending.windowRemoved.append((settings.name, earlier.id)) }
            try finish(last)
            pendingEvents -= job.events.count - 1
        } else {
            for event in job.events { try finish(event) }
        }
    }

    /// A matched event is handled (done, skipped, superseded, dead-lettered).
    private func finish(_ event: RoutedEvent) throws {
        pendingEvents -= 1
        if let position = event.position { try complete(position) }
    }

    private func complete(_ position: EventPosition) throws {
        if case .advance = try watermark.completed(position) { cursorMoved = true }
    }

    // MARK: Recording

    private func commit() async throws {
        guard case .follow = mode else {
            guard !pending.isEmpty else { return }
            let changes = pending
            pending = StateCommit()
            try await store.commit(changes)
            return
        }
        guard !pending.isEmpty || cursorMoved else { return }
        var changes = pending
        pending = StateCommit()
        cursorMoved = false
        // Every call not yet recorded wrote (if at all) after the earliest mark taken before one.
        let mark = outstanding.values.compactMap(\.mark).min() ?? runtime.agent.receiptMark()
        changes.cursor = Self.storedCursor(settings.consumerName, watermark.confirmed, mark: mark)
        try await store.commit(changes)
        channel.update(settings.consumerName, .init(floor: watermark.confirmed, pausesCapture: true))
    }

    private func wallMicros() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }
}

#if canImport(Glibc)
import Glibc
#endif
