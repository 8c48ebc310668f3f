import PGReflexAgentContract
import PGReflexEnvelope
import PGReflexJournal
import PGReflexWire

extension JournalRecord.Metadata {
    /// An event's metadata, as `run` journals it. `key` is the key's JSON as written (after
    /// privacy): its hash partitions and orders by key without exposing it.
    init(_ event: ChangeEvent, key: ArraySlice<UInt8>?, causation: Causation) {
        let hasKey = key.map { !$0.elementsEqual("null".utf8) } ?? false
        self.init(table: event.relation?.qualifiedName ?? "", operation: event.operation.rawValue,
                  schemaVersion: event.relation?.schemaVersion, xid: event.xid, commitTime: event.commitTime?.unixMicroseconds ?? 0,
                  keyHash: hasKey ? Self.keyHash(key!) : 0, route: event.route, causation: causation)
    }
}

/// Who caused each event (the loop guard's input), worked out as capture journals it, so that no
/// route searches an envelope for it: an agent's action commits under the replication origin
/// `pgreflex:<depth>:<agent>`, or starts its transaction with a causation tag (``AgentCausation``).
struct CausationTracker {
    /// The cause the last tag gave its transaction.
    private var tag: (commitLSN: LSN, cause: AgentCausation.Cause)?

    /// An event's causation, from its commit LSN, origin and (for a logical message) the message.
    mutating func causation(commitLSN: LSN, origin: String?, message: PgOutputMessage.LogicalMessage?) -> JournalRecord.Metadata.Causation {
        if let message, message.prefix == AgentCausation.tagPrefix {
            let cause = AgentCausation.cause(tagContent: message.content.bytes)
            tag = cause.map { (commitLSN, $0) }
            return cause.map { .tag(depth: $0.depth, agent: $0.agent) } ?? .unreadableTag
        }
        if let cause = AgentCausation.cause(origin: origin) ?? tag.flatMap({ $0.commitLSN == commitLSN ? $0.cause : nil }) {
            return .agent(depth: cause.depth, agent: cause.agent)
        }
        return .none
    }
}
