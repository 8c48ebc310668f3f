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
        var counts = CollectionCounter()
    }

    /// Events per table within one transaction, in order of first appearance.
    struct CollectionCounter: Sendable {
        private(set) var entries: [DataCollectionCount] = []
        private var index: [UInt32: Int] = [:]

        /// Counts one more event of `relation` and returns its position (from 1) within the table.
        mutating func next(_ relation: RelationDescriptor) -> Int {
            let oid = relation.relation.oid
            if let i = index[oid] {
                entries[i].eventCount += 1
                return entries[i].eventCount
            }
            index[oid] = entries.count
            entries.append(DataCollectionCount(relationOID: oid, schema: relation.relation.namespace,
                                               table: relation.relation.name, eventCount: 1))
            return 1
        }
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
                commitTime: commit.commitTime, eventCount: transaction.ordinal,
                dataCollections: transaction.counts.entries))

        case .origin(let origin):
            open?.origin = origin.name
            return .none

        case .relation(let relation):
            // An owner with catalog access registers a richer descriptor first (see `register`).
            if relations[relation.oid]?.relation != relation {
                relations[relation.oid] = RelationDescriptor(relation)
            }
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
            var after = update.newTuple
            if case .full(let old) = update.old, after.columns.contains(.unchangedToast) {
                // REPLICA IDENTITY FULL logs the whole old row, unchanged TOAST values included.
                after = after.fillingUnchangedToast(from: old)
            }
            if let old = update.old, relation.keyChanged(from: old, to: after) {
                // Like Debezium: a change of primary key is a delete of the old key, then a create.
                var delete = ChangeEvent(operation: .delete, lsn: lsn, xid: update.xid ?? 0, relation: relation, before: old.tuple)
                if case .key = old { delete.beforeIsKeyOnly = true }
                let create = ChangeEvent(operation: .create, lsn: lsn, xid: update.xid ?? 0, relation: relation, after: after)
                var events: [ChangeEvent] = []
                for event in [delete, create] {
                    if case .event(let placed) = try place(event, streamXid: update.xid) { events.append(placed) }
                }
                return events.isEmpty ? .none : .events(events)
            }
            var event = ChangeEvent(operation: .update, lsn: lsn, xid: update.xid ?? 0, relation: relation, after: after)
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
            var counts = CollectionCounter()
            for index in events.indices {
                events[index].xid = commit.xid
                events[index].commitLSN = commit.commitLSN
                events[index].commitTime = commit.commitTime
                events[index].ordinal = index
                if let relation = events[index].relation { events[index].dataCollectionOrder = counts.next(relation) }
            }
            return .streamedCommit(events, TransactionCommit(
                xid: commit.xid, commitLSN: commit.commitLSN, endLSN: commit.endLSN,
                commitTime: commit.commitTime, eventCount: events.count, dataCollections: counts.entries))

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

    /// Registers a descriptor built with catalog details (primary key, type details) for the
    /// changes that follow; a later Relation message equal to it keeps it.
    public mutating func register(_ descriptor: RelationDescriptor) {
        relations[descriptor.relation.oid] = descriptor
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
        if let relation = event.relation { event.dataCollectionOrder = transaction.counts.next(relation) }
        transaction.ordinal += 1
        open = transaction
        return .event(event)
    }
}
