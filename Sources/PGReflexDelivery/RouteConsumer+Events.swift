import PGReflexAgentContract
import PGReflexJournal

/// What moves through a route: a matched event, and a call's worth of them.
extension RouteConsumer {
    /// One matched event inside the route. What never changes is one shared object (the
    /// agent's view of it), so the event's many hand-offs (stages, the per-key queue, calls,
    /// completions) each copy a reference rather than retain half a dozen strings and arrays.
    struct RoutedEvent: Sendable {
        let body: AgentEvent.Body
        /// The table's schema version, from the journal's metadata.
        let schemaVersion: Int?
        /// The primary key's hash, from the journal's metadata (0: no key).
        let keyHash: UInt64
        var position: EventPosition?
        /// The ordering key's value.
        var key: String
        /// The agent whose action made the change, and how deep the chain is (``AgentCausation``).
        var cause: AgentCausation.Cause?
        /// The throttle key's value, worked out at admission from the event's one parse; nil for
        /// an event restored from the store (a window's), whose envelope is parsed when it calls.
        var throttleKey: String?

        var id: String { body.id }
        var table: String { body.table }
        var op: String { body.op }
        var commitTime: Int64 { body.commitTime }
        var envelope: [UInt8] { body.envelope }

        init(position: EventPosition?, id: String, table: String, op: String, commitTime: Int64, envelope: [UInt8],
             schemaVersion: Int? = nil, keyHash: UInt64 = 0, key: String) {
            body = AgentEvent.Body(id: id, table: table, op: op, envelope: envelope, commitTime: commitTime)
            self.schemaVersion = schemaVersion
            self.keyHash = keyHash
            self.position = position
            self.key = key
        }

        var agentEvent: AgentEvent {
            AgentEvent(body: body, depth: cause?.depth ?? 0)
        }
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
}
