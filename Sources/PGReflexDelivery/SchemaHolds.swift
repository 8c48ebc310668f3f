import PGReflexJournal
import PGReflexSchema

/// The tables whose events wait in the journal for an operator (`schemas.on_new_version: hold`).
///
/// A table is held from its first event whose schema version is not accepted. From then on
/// every event of the table is held, whatever its version, so the table's events still reach
/// the sink in commit order; other tables go on. When the registry accepts the held version, the
/// owner takes the hold away (`release`) and routes the table's journaled events again from
/// where the hold began: accepted versions are delivered, and the first one still pending
/// begins a new hold.
///
/// A pure state machine, generic over the clock so tests need not wait for reminders; the
/// owner reads the journal, delivers, polls the registry and logs.
struct SchemaHolds<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    struct Hold: Equatable, Sendable {
        /// The first held event.
        var since: EventPosition
        /// That event's schema version: the one to accept.
        var version: Int
        /// Held events seen by this process (after a restart: since the restart).
        var events: Int
        var nextReminder: Instant
    }

    enum Route: Equatable, Sendable {
        case deliver
        case hold
        /// Held, and the first of a new hold: alert.
        case beginHold
    }

    let policy: SchemaVersionPolicy
    let reminderInterval: Duration
    /// Each table's newest accepted version, as the registry last said.
    private(set) var accepted: [String: Int]
    private(set) var holds: [String: Hold] = [:]

    init(policy: SchemaVersionPolicy, accepted: [String: Int], restoring held: [String: Checkpoint.Hold] = [:], now: Instant,
         reminderInterval: Duration = .seconds(60)) {
        self.policy = policy
        policyHolds = policy.holdsAny
        self.accepted = accepted
        self.reminderInterval = reminderInterval
        for (table, hold) in held {
            holds[table] = Hold(since: hold.position, version: hold.version, events: 0, nextReminder: now)
        }
    }

    /// Some table is configured to hold (decided once: `isEnabled` is asked per event).
    private let policyHolds: Bool

    /// Whether events need routing at all (some table is configured to hold, or still held).
    var isEnabled: Bool { policyHolds || !holds.isEmpty }

    /// Decides one event, in commit order. Events without a table (logical messages) or without a
    /// version (journaled before versions existed) are delivered unless their table is held.
    mutating func route(table: String, version: Int?, at position: EventPosition, now: Instant) -> Route {
        if holds[table] != nil {
            holds[table]!.events += 1
            return .hold
        }
        guard let version, policy.action(for: table) == .hold, version > accepted[table, default: 0] else { return .deliver }
        holds[table] = Hold(since: position, version: version, events: 1, nextReminder: now.advanced(by: reminderInterval))
        return .beginHold
    }

    /// The registry's accepted versions, newly read; returns the held tables whose version is
    /// now accepted (or that are no longer configured to hold), for the owner to `release`.
    mutating func update(accepted versions: [String: Int]) -> [String] {
        accepted = versions
        return holds.filter { table, hold in
            versions[table, default: 0] >= hold.version || policy.action(for: table) == .continue
        }.map(\.key).sorted()
    }

    /// Ends a hold; returns where it began. The owner then routes the table's journaled events
    /// from there again.
    mutating func release(_ table: String) -> EventPosition? {
        holds.removeValue(forKey: table)?.since
    }

    /// The holds due a reminder (an operator has not acted yet); each is rescheduled.
    mutating func remind(now: Instant) -> [(table: String, hold: Hold)] {
        var due: [(String, Hold)] = []
        for (table, hold) in holds where hold.nextReminder <= now {
            holds[table]!.nextReminder = now.advanced(by: reminderInterval)
            due.append((table, hold))
        }
        return due.sorted { $0.0 < $1.0 }
    }

    /// The earliest held event: retention must keep it.
    var floor: EventPosition? { holds.values.map(\.since).min() }

    /// What the checkpoint keeps, so a restart holds the same events.
    var checkpointed: [String: Checkpoint.Hold] {
        holds.mapValues { Checkpoint.Hold(position: $0.since, version: $0.version) }
    }
}
