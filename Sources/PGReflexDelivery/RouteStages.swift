import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState

/// A route's flow control between admission and the per-key queue, in order: schema pins (and
/// the keys they hold), idempotency, the rate limit, shedding, then debounce, batch or window.
/// Each stage's outcome goes to ``RouteStateMachine``, which records it.
struct RouteStages<Instant: InstantProtocol> where Instant.Duration == Duration {
    typealias Job = RouteCalls<Instant>.Job

    /// What the stages did with an event (or with what waited in them).
    enum Outcome {
        /// A call for the queue.
        case call(Job)
        case skipped(RoutedEvent, Skip.Reason)
        /// A newer event of its debounce key (`by`, its id) replaced it: handled, with no call.
        case superseded(RoutedEvent, by: String)
        /// It fell out of its window without completing it: handled, with no call.
        case leftWindow(RoutedEvent)
        /// In a window the store keeps: the store gets `entry`, and the cursor may pass it.
        case keptInWindow(WindowEntry, at: EventPosition)
        /// A fired window's earlier events, kept in the store until its call is done.
        case storedFired([WindowEntry])
        /// Read again after a restart: a stored window has it already.
        case duplicate(RoutedEvent)
        /// Held by a schema pin (the route's first of its table and version says so).
        case held(RoutedEvent, notice: RouteNotice?)
    }

    let settings: RouteSettings
    var rateLimit: GCRA<Instant>?
    var debounce: Debounce<Instant, RoutedEvent>?
    var batcher: Batcher<Instant, RoutedEvent>?
    var windows: RouteWindows?
    var nextWindowPrune: Instant
    /// Idempotency keys run (or started) lately, with when.
    var idempotencyRun: [String: Instant] = [:]
    /// Keys held by a schema pin, and the events held.
    var heldKeys: Set<String> = []
    var heldEvents: [RoutedEvent] = []
    var heldAlerted: Set<String> = []
    var nextHoldReminder: Instant

    init(settings: RouteSettings, now: Instant) {
        self.settings = settings
        // Inngest's rate limit lets `limit` events through in any one period, back to back.
        rateLimit = settings.rateLimit.map { GCRA(limit: $0.limit, period: $0.period, burst: $0.limit) }
        debounce = settings.debounce.map { Debounce(period: $0.period, timeout: $0.timeout) }
        batcher = settings.batch.map { Batcher(maxSize: $0.maxSize, timeout: $0.timeout) }
        windows = settings.window.map { RouteWindows(route: settings.name, count: $0.count, period: $0.period) }
        nextWindowPrune = now
        nextHoldReminder = now
    }

    /// The event, its key set, through the stages. `idempotencyKey`: its idempotency key's value.
    mutating func stage(_ event: RoutedEvent, _ values: CELActivation?, idempotencyKey: String?, now: Instant, wallNow: Int64,
                        into outcomes: inout [Outcome]) {
        if let pins = settings.schemaVersions[event.table], let version = event.schemaVersion, !pins.contains(version) {
            heldKeys.insert(event.key)
            heldEvents.append(event)
            let first = heldAlerted.insert("\(event.table)@\(version)").inserted
            outcomes.append(.held(event, notice: first ? .held(table: event.table, version: version, pinned: pins.sorted(), from: event.position) : nil))
            return
        }
        if heldKeys.contains(event.key) {
            heldEvents.append(event)
            outcomes.append(.held(event, notice: nil))
            return
        }
        if let value = idempotencyKey {
            if let last = idempotencyRun[value], last.duration(to: now) < settings.idempotency!.period {
                return outcomes.append(.skipped(event, .idempotency))
            }
            idempotencyRun[value] = now
        }
        if let rate = settings.rateLimit, rateLimit!.take(rate.key.flatMap { RouteValues.keyValue($0, values) } ?? "", now: now) != nil {
            return outcomes.append(.skipped(event, .rateLimit))
        }
        if let shed = settings.shed, event.commitTime > 0, wallNow - event.commitTime > UnixTime.micros(shed.lagOver), shed.action == .skip {
            return outcomes.append(.skipped(event, .shed))
        }
        let group = settings.concurrency.key.flatMap { RouteValues.keyValue($0, values) }
        let priority = settings.priority.map { RouteValues.priorityValue($0, values) } ?? 0
        if let window = settings.window {
            let key = window.key.flatMap { RouteValues.keyValue($0, values) } ?? event.key
            let (step, expired) = windows!.add(event, key: key)
            outcomes += expired.map { .leftWindow($0) }
            let job = { (events: [RoutedEvent]) in
                Job(events: events, key: key, group: group, priority: priority, idempotencyKey: idempotencyKey, fromWindow: true)
            }
            switch step {
            case .fired(let events, let stored): outcomes += [.storedFired(stored), .call(job(events))]
            case .firedAgain(let events): outcomes.append(.call(job(events)))
            case .kept(let entry): outcomes.append(.keptInWindow(entry, at: event.position!))
            case .duplicate: outcomes.append(.duplicate(event))
            }
        } else if let settingsDebounce = settings.debounce {
            let key = settingsDebounce.key.flatMap { RouteValues.keyValue($0, values) } ?? event.key
            for case .superseded(let replaced) in debounce!.received(event, key: key, now: now) {
                outcomes.append(.superseded(replaced, by: event.id))
            }
        } else if let settingsBatch = settings.batch {
            let key = settingsBatch.key.flatMap { RouteValues.keyValue($0, values) } ?? ""
            if let full = batcher!.add(event, key: key, now: now) {
                outcomes.append(.call(Job(events: full, key: "batch:" + key, group: nil, priority: priority)))
            }
        } else {
            outcomes.append(.call(Job(events: [event], key: event.key, group: group, priority: priority, idempotencyKey: idempotencyKey)))
        }
    }

    /// Whatever waits on time and is due at `now` (`wallNow` for windows, which run on commit
    /// time); the per-key state that no longer matters is forgotten when `pruneKeys`.
    mutating func timersFired(now: Instant, wallNow: Int64, pruneKeys: Bool, into outcomes: inout [Outcome]) {
        if debounce != nil {
            for (_, event) in debounce!.due(now: now) { outcomes.append(.call(Job(events: [event], key: event.key, group: nil, priority: 0))) }
        }
        if batcher != nil {
            for (key, events) in batcher!.due(now: now) { outcomes.append(.call(Job(events: events, key: "batch:" + key, group: nil, priority: 0))) }
        }
        if windows != nil, now >= nextWindowPrune {
            nextWindowPrune = now.advanced(by: .seconds(1))
            outcomes += windows!.prune(wallNow: wallNow).map { .leftWindow($0) }
        }
        if pruneKeys {
            rateLimit?.prune(now: now)
            if let period = settings.idempotency?.period {
                idempotencyRun = idempotencyRun.filter { $0.value.duration(to: now) < period }
            }
        }
    }

    /// Capture has finished: what waits for a quiet period or a full batch goes now.
    mutating func flushAll(now: Instant, into outcomes: inout [Outcome]) {
        if debounce != nil {
            for (_, event) in debounce!.due(now: now.advanced(by: .seconds(86_400 * 365))) {
                outcomes.append(.call(Job(events: [event], key: event.key, group: nil, priority: 0)))
            }
        }
        if batcher != nil {
            for (key, events) in batcher!.drain() { outcomes.append(.call(Job(events: events, key: "batch:" + key, group: nil, priority: 0))) }
        }
    }

    /// Every 30 seconds while events are held: a reminder.
    mutating func remindHolds(now: Instant) -> RouteNotice? {
        guard !heldEvents.isEmpty, now >= nextHoldReminder else { return nil }
        nextHoldReminder = now.advanced(by: .seconds(30))
        return .stillHolding(events: heldEvents.count, versions: heldAlerted.sorted())
    }

    /// When something waiting on time is next due.
    var nextDeadline: Instant? {
        let deadline = [debounce?.nextDeadline, batcher?.nextDeadline].compactMap { $0 }.min()
        guard windows?.waiting ?? 0 > 0 else { return deadline }
        return min(deadline ?? nextWindowPrune, nextWindowPrune)
    }
}
