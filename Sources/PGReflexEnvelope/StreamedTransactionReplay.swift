public import PGReflexWire

/// Turns the held messages of one committed streamed transaction into its events, one message
/// at a time, so no more than one message's events are in memory. A pure state machine: the
/// owner reads the held messages back and writes the events.
public struct StreamedTransactionReplay: Sendable {
    /// Relations as this transaction's stream described them (pgoutput sends each relation a
    /// streamed transaction uses inside that transaction's own blocks).
    public private(set) var relations: [UInt32: RelationDescriptor] = [:]
    private var stamp: TransactionStamp
    private let commitMessage: PgOutputMessage.StreamCommit
    private let abortedSubtransactions: Set<UInt32>

    public init(commit: PgOutputMessage.StreamCommit, abortedSubtransactions: Set<UInt32>) {
        commitMessage = commit
        self.abortedSubtransactions = abortedSubtransactions
        stamp = TransactionStamp(xid: commit.xid, commitLSN: commit.commitLSN, commitTime: commit.commitTime)
    }

    public mutating func register(_ descriptor: RelationDescriptor) {
        relations[descriptor.relation.oid] = descriptor
    }

    /// The events of one held message (decoded as streamed), stamped with the commit.
    public mutating func handle(_ message: PgOutputMessage, at lsn: LSN) throws(TransactionAssembler.AssemblyError) -> [ChangeEvent] {
        if let subxid = message.streamXid, abortedSubtransactions.contains(subxid) { return [] }
        switch message {
        case .relation(let relation):
            if relations[relation.oid]?.relation != relation { relations[relation.oid] = RelationDescriptor(relation) }
            return []
        case .type:
            return []
        default:
            var events: [ChangeEvent]
            switch try TransactionAssembler.build(message, at: lsn, relations: relations) {
            case .none: return []
            case .one(let event): events = [event]
            case .many(let many): events = many
            }
            for i in events.indices { stamp.apply(to: &events[i]) }
            return events
        }
    }

    /// The commit, with its event counts, once every held message has been handled.
    public var commit: TransactionCommit {
        stamp.commit(commitLSN: commitMessage.commitLSN, endLSN: commitMessage.endLSN, commitTime: commitMessage.commitTime)
    }
}
