public import PGReflexAgentContract
import PGReflexDispatch
public import PGReflexJournal
public import PGReflexRouter
import PGReflexState
import PGReflexWire

/// A route's flow control over a fixed list of events, on their own commit times and with no
/// store: what `trace record` and `trace verify` put beside each event (debounced into a later
/// one, kept in a window, skipped by the rate limit) and the calls it would make. The stages
/// are the ones `run` uses (``RouteStages``), driven by a clock that is the events' commit
/// time, so a trace comes out the same on every run. What depends on the agent's answers or on
/// wall time (throttle, retries, the breaker, shedding by lag) is not simulated.
public struct RouteFlowSimulation {
    /// What the route did with one event.
    public enum Step: Sendable, Equatable, CustomStringConvertible {
        /// In a call of `events` events, made when the event `at` came (or at the end).
        case called(events: Int, at: String)
        /// A newer event of its debounce key replaced it.
        case debounced(into: String)
        /// In a window that had not fired yet.
        case waitingInWindow(key: String)
        /// It fell out of its window without completing it.
        case leftWindow
        /// Skipped (rate_limit, idempotency, agent_change, loop_guard, shed).
        case skipped(String)
        /// Held by a schema pin.
        case held

        public var description: String {
            switch self {
            case .called(let events, let at): events == 1 ? "called" : "called with \(events) events, at \(at)"
            case .debounced(let id): "debounced into \(id)"
            case .waitingInWindow(let key): "waiting in window \(key)"
            case .leftWindow: "left its window"
            case .skipped(let reason): "skipped: \(reason)"
            case .held: "held by schema_versions"
            }
        }
    }

    /// A call the route would make.
    public struct Call: Sendable {
        public var call: AgentCall
        /// The key its per-key queue orders it by.
        public var orderingKey: String
    }

    let settings: RouteSettings
    let agentName: String
    var stages: RouteStages<UnixTime>
    var ordinal = 0
    public private(set) var steps: [String: Step] = [:]

    public init(settings: RouteSettings, agentName: String, start: Int64) {
        self.settings = settings
        self.agentName = agentName
        stages = RouteStages(settings: settings, now: UnixTime(microseconds: start))
    }

    /// One matched event, in commit order: the calls due by its commit time (a debounce that
    /// went quiet before it) and the call it makes or completes. Its step is in ``steps``.
    public mutating func add(_ event: AgentEvent, schemaVersion: Int? = nil, keyHash: UInt64 = 0, position: EventPosition? = nil) -> [Call] {
        ordinal += 1
        let now = UnixTime(microseconds: event.commitTime)
        var outcomes: [RouteStages<UnixTime>.Outcome] = []
        stages.timersFired(now: now, wallNow: event.commitTime, pruneKeys: true, into: &outcomes)
        var routed = RoutedEvent(position: position ?? EventPosition(commitLSN: LSN(UInt64(ordinal)), ordinal: 0), id: event.id, table: event.table,
                                 op: event.op, commitTime: event.commitTime, envelope: event.envelope, schemaVersion: schemaVersion,
                                 keyHash: keyHash, key: "")
        let values = RouteValues.values(of: event.envelope)
        let (cause, _) = RouteValues.cause(of: values)
        routed.cause = cause
        if let cause {
            let own = settings.agentChanges == .others && cause.agent == agentName
            if cause.depth >= AgentCausation.maxDepth && settings.agentChanges != .skip && !own {
                steps[event.id] = .skipped(Skip.Reason.loopGuard.rawValue)
                return calls(outcomes)
            }
            if settings.agentChanges == .skip || own {
                steps[event.id] = .skipped(Skip.Reason.agentChange.rawValue)
                return calls(outcomes)
            }
        }
        routed.key = settings.key.flatMap { RouteValues.keyValue($0, values) } ?? routed.defaultKey
        let idempotencyValue = settings.idempotency.flatMap { RouteValues.keyValue($0.key, values) }
        stages.stage(routed, values, idempotencyKey: idempotencyValue, now: now, wallNow: event.commitTime, into: &outcomes)
        return calls(outcomes)
    }

    /// The end of the events: what waits for a quiet period or a full batch is called now;
    /// what waits in a window stays there.
    public mutating func finish() -> [Call] {
        var outcomes: [RouteStages<UnixTime>.Outcome] = []
        stages.flushAll(now: UnixTime(microseconds: .max / 2), into: &outcomes)
        return calls(outcomes)
    }

    mutating func calls(_ outcomes: [RouteStages<UnixTime>.Outcome]) -> [Call] {
        var calls: [Call] = []
        for outcome in outcomes {
            switch outcome {
            case .call(let job):
                for event in job.events { steps[event.id] = .called(events: job.events.count, at: job.events.last!.id) }
                let call = AgentCall(route: settings.name, events: job.events.map(\.agentEvent), agent: agentName,
                                     idempotencyValue: job.idempotencyKey ?? job.events[0].id, timeout: settings.timeout)
                calls.append(Call(call: call, orderingKey: job.key))
            case .skipped(let event, let reason): steps[event.id] = .skipped(reason.rawValue)
            case .superseded(let event, let by): steps[event.id] = .debounced(into: by)
            case .leftWindow(let event): steps[event.id] = .leftWindow
            case .keptInWindow(let entry, _): steps[entry.eventID] = .waitingInWindow(key: entry.key)
            case .storedFired, .duplicate: break
            case .held(let event, _): steps[event.id] = .held
            }
        }
        return calls
    }
}
