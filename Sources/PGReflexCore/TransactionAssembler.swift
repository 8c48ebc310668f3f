public import PGReflexWire

/// Turns the pgoutput message sequence into change events in commit order.
///
/// It is a pure state machine: each message goes in, one action comes out, and the owner
/// does the writing. It tracks the open transaction (for commit LSN, time and ordinals), the
/// relation cache, and the blocks of streamed transactions (protocol 2), which it holds until
/// their Stream Commit and drops on Stream Abort.
public struct TransactionAssembler: Sendable {
    public enum Action: Sendable {
        case none
        /// A non-streamed transaction began; its events follow as `.event`.
        case begin(xid: UInt32, finalLSN: LSN, commitTime: PostgresTimestamp)
        case event(ChangeEvent)
        /// Several events at once: one per table of a TRUNCATE.
        case events([ChangeEvent])
        case commit(TransactionCommit)
        /// A streamed transaction committed: all its events, then its commit.
        case streamedCommit([ChangeEvent], TransactionCommit)
    }

    public struct AssemblyError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String {
            "the pgoutput stream is inconsistent: \(message). Report this with the slot's confirmed LSN; "
                + "restarting resumes from the last confirmed transaction"
        }
    }

    private struct OpenTransaction {
        var xid: UInt32
        var finalLSN: LSN
        var commitTime: PostgresTimestamp
        var ordinal = 0
        var origin: String?
    }

    public private(set) var relations: [UInt32: RelationDescriptor] = [:]
    public private(set) var types: [UInt32: PgOutputMessage.TypeMessage] = [:]
    private var open: OpenTransaction?
    /// Events of in-progress streamed transactions, by top-level xid. Each event's `xid` is
    /// its subtransaction's, so that a subtransaction abort can drop just its own.
    private var streamed: [UInt32: [ChangeEvent]] = [:]
    private var openStream: UInt32?

    public init() {}

    /// Whether a non-streamed transaction is between Begin and Commit.
    public var inTransaction: Bool { open != nil }

    /// The number of events held for streamed transactions not yet committed.
    public var bufferedStreamedEvents: Int { streamed.values.reduce(0) { $0 + $1.count } }

    public mutating func handle(_ message: PgOutputMessage, at lsn: LSN) throws(AssemblyError) -> Action {
        switch message {
        case .begin(let begin):
            if let open { throw AssemblyError(message: "Begin of xid \(begin.xid) inside open xid \(open.xid)") }
            open = OpenTransaction(xid: begin.xid, finalLSN: begin.finalLSN, commitTime: begin.commitTime)
            return .begin(xid: begin.xid, finalLSN: begin.finalLSN, commitTime: begin.commitTime)

        case .commit(let commit):
            guard let transaction = open else { throw AssemblyError(message: "Commit at \(commit.commitLSN) without Begin") }
            open = nil
            return .commit(TransactionCommit(
                xid: transaction.xid, commitLSN: commit.commitLSN, endLSN: commit.endLSN,
                commitTime: commit.commitTime, eventCount: transaction.ordinal))

        case .origin(let origin):
            open?.origin = origin.name
            return .none

        case .relation(let relation):
            relations[relation.oid] = RelationDescriptor(relation)
            return .none

        case .type(let type):
            types[type.oid] = type
            return .none

        case .insert(let insert):
            let relation = try descriptor(insert.relationOID, tuple: insert.newTuple)
            return try place(ChangeEvent(operation: .create, lsn: lsn, xid: insert.xid ?? 0, relation: relation,
                                         after: insert.newTuple), streamXid: insert.xid)

        case .update(let update):
            let relation = try descriptor(update.relationOID, tuple: update.newTuple)
            if let old = update.old { _ = try descriptor(update.relationOID, tuple: old.tuple) }
            var event = ChangeEvent(operation: .update, lsn: lsn, xid: update.xid ?? 0, relation: relation,
                                    after: update.newTuple)
            if let old = update.old {
                event.before = old.tuple
                if case .key = old { event.beforeIsKeyOnly = true }
            }
            return try place(event, streamXid: update.xid)

        case .delete(let delete):
            let relation = try descriptor(delete.relationOID, tuple: delete.old.tuple)
            var event = ChangeEvent(operation: .delete, lsn: lsn, xid: delete.xid ?? 0, relation: relation,
                                    before: delete.old.tuple)
            if case .key = delete.old { event.beforeIsKeyOnly = true }
            return try place(event, streamXid: delete.xid)

        case .truncate(let truncate):
            var events: [ChangeEvent] = []
            for oid in truncate.relationOIDs {
                guard let relation = relations[oid] else {
                    throw AssemblyError(message: "Truncate of relation OID \(oid) before its Relation message")
                }
                let event = ChangeEvent(operation: .truncate, lsn: lsn, xid: truncate.xid ?? 0, relation: relation,
                                        truncateOptions: truncate.options)
                if case .event(let placed) = try place(event, streamXid: truncate.xid) { events.append(placed) }
            }
            return events.isEmpty ? .none : .events(events)

        case .message(let logical):
            let event = ChangeEvent(operation: .message, lsn: logical.lsn, xid: logical.xid ?? 0, message: logical)
            if !logical.isTransactional {
                // Delivered as it is decoded, outside any transaction's commit.
                return .event(event)
            }
            return try place(event, streamXid: logical.xid)

        case .streamStart(let start):
            openStream = start.xid
            if start.firstSegment { streamed[start.xid] = streamed[start.xid] ?? [] }
            return .none

        case .streamStop:
            openStream = nil
            return .none

        case .streamCommit(let commit):
            var events = streamed.removeValue(forKey: commit.xid) ?? []
            for index in events.indices {
                events[index].xid = commit.xid
                events[index].commitLSN = commit.commitLSN
                events[index].commitTime = commit.commitTime
                events[index].ordinal = index
            }
            return .streamedCommit(events, TransactionCommit(
                xid: commit.xid, commitLSN: commit.commitLSN, endLSN: commit.endLSN,
                commitTime: commit.commitTime, eventCount: events.count))

        case .streamAbort(let abort):
            if abort.xid == abort.subxid {
                streamed.removeValue(forKey: abort.xid)
            } else {
                streamed[abort.xid]?.removeAll { $0.xid == abort.subxid }
            }
            return .none

        case .beginPrepare, .prepare, .commitPrepared, .rollbackPrepared, .streamPrepare:
            throw AssemblyError(message: "two-phase commit messages arrived, but pgreflex does not ask for two_phase")
        }
    }

    private func descriptor(_ oid: UInt32, tuple: TupleData) throws(AssemblyError) -> RelationDescriptor {
        guard let relation = relations[oid] else {
            throw AssemblyError(message: "a change to relation OID \(oid) arrived before its Relation message")
        }
        if tuple.columns.count != relation.relation.columns.count {
            throw AssemblyError(message: "a row of \(relation.relation.namespace).\(relation.relation.name) has "
                + "\(tuple.columns.count) columns, its Relation message \(relation.relation.columns.count)")
        }
        return relation
    }

    /// Stamps an event with its transaction's context, or holds it for its streamed transaction.
    private mutating func place(_ event: ChangeEvent, streamXid: UInt32?) throws(AssemblyError) -> Action {
        var event = event
        if streamXid != nil {
            guard let top = openStream else {
                throw AssemblyError(message: "a streamed change arrived outside a Stream Start/Stop block")
            }
            streamed[top, default: []].append(event)
            return .none
        }
        guard var transaction = open else {
            throw AssemblyError(message: "a change at \(event.lsn) arrived outside a transaction")
        }
        event.xid = transaction.xid
        event.commitLSN = transaction.finalLSN
        event.commitTime = transaction.commitTime
        event.ordinal = transaction.ordinal
        event.origin = transaction.origin
        transaction.ordinal += 1
        open = transaction
        return .event(event)
    }
}
