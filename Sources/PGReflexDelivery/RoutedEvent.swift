import Foundation
import PGReflexAgentContract
import PGReflexJournal
import PGReflexRouter
import PGReflexWire

/// One matched event inside a route. What never changes is one shared object (the agent's view
/// of it), so the event's many hand-offs (stages, the per-key queue, calls, completions) each
/// copy a reference rather than retain half a dozen strings and arrays.
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
    /// When the route read it from the journal, Unix microseconds (0: restored from the store).
    var readAt: Int64 = 0

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

    /// The table's primary key, as the journal hashed it: same row, same key.
    var defaultKey: String {
        table + "/" + String(keyHash, radix: 16)
    }

    /// The envelope's `id` for a position.
    static func id(_ position: EventPosition) -> String {
        EventID.string(lsn: position.commitLSN.rawValue, ordinal: position.ordinal)
    }
}

/// What a route reads from an event's envelope: its values (parsed once), the cause an agent
/// left in it, and its key expressions' values. Every value comes from a row: whatever it
/// holds, the answer is a value or nothing, never a trap.
enum RouteValues {
    /// An envelope's values, as the route's condition and key expressions read them; empty
    /// when it is not a JSON object (then no expression has a value for it).
    static func values(of envelope: [UInt8]) -> CELActivation {
        (try? CELValue.activation(envelope: envelope)) ?? [:]
    }

    /// An envelope's cause, from its values: `source.origin`, or a tool's tag message (`isTag`).
    static func cause(of values: CELActivation) -> (cause: AgentCausation.Cause?, isTag: Bool) {
        if case .map(let event)? = values["event"], case .map(let message)? = event["message"],
           case .string(AgentCausation.tagPrefix)? = message["prefix"] {
            // The tag's content is a few bytes of its own JSON, not the envelope.
            guard case .string(let content)? = message["content"], let data = Data(base64Encoded: content) else { return (nil, true) }
            return (AgentCausation.cause(tagContent: data), true)
        }
        guard case .map(let source)? = values["source"], case .string(let origin)? = source["origin"] else { return (nil, false) }
        return (AgentCausation.cause(origin: origin), false)
    }

    /// A key expression's value as text; nil when it has none for this event.
    static func keyValue(_ expression: CELExpression, _ activation: CELActivation?) -> String? {
        guard let activation, let value = try? expression.evaluate(activation) else { return nil }
        switch value {
        case .null: return nil
        case .string(let text): return text
        default: return value.description
        }
    }

    static func priorityValue(_ expression: CELExpression, _ activation: CELActivation?) -> Int {
        guard let activation, let value = try? expression.evaluate(activation) else { return 0 }
        switch value {
        case .int(let i): return Int(clamping: i)
        case .uint(let u): return Int(clamping: u)
        // A row's value: clamped, never a trap (1e300 is the highest priority, not a crash).
        case .double(let d) where d.isFinite: return Int(exactly: d.rounded()) ?? (d < 0 ? .min : .max)
        case .decimal(let d): return d.truncatedInt64.map { Int(clamping: $0) } ?? (d.mantissa < 0 ? .min : .max)
        default: return 0
        }
    }
}
