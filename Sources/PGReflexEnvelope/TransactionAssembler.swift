public import PGReflexWire

/// Turns the pgoutput message sequence into change events in commit order.
///
/// It is a pure state machine: each message goes in, one action comes out, and the owner
/// does the I/O. It tracks the open transaction (for commit LSN, time and ordinals) and the
/// relation cache. Messages of streamed transactions (protocol 2) are not held here: the owner
/// is told to keep them (`hold`), to drop a (sub)transaction's (`discard`), and, at Stream
/// Commit, to replay them through a ``StreamedTransactionReplay`` (`releaseStreamed`). That
/// keeps memory bounded however large a transaction is.
public struct TransactionAssembler: Sendable {
    public enum Action: Sendable {
        case none
        /// A non-streamed transaction began; its events follow as `.event`.
        case begin(xid: UInt32, finalLSN: LSN, commitTime: PostgresTimestamp)
        case event(ChangeEvent)
        /// Several events from one message: a TRUNCATE of several tables, or a key change.
        case events([ChangeEvent])
        case commit(TransactionCommit)
        /// Keep this message (its bytes as received) for the streamed transaction `xid`.
        case hold(xid: UInt32)
        /// Drop what is held for `subxid` of `xid` (all of `xid` when they are equal).
        case discard(xid: UInt32, subxid: UInt32)
        /// The streamed transaction committed: replay what is held for it, in order.
        case releaseStreamed(PgOutputMessage.StreamCommit)
    }

    public struct AssemblyError: Error, Sendable, CustomStringConvertible {
        public var message: String
        /// Yes: a restart resumes from the last confirmed transaction and reads it again.
        public var isRetryable: Bool { true }
        public var description: String {
            "the pgoutput stream is inconsistent: \(message). Report this with the slot's confirmed LSN; "
                + "restarting resumes from the last confirmed transaction"
        }
    }

    private struct OpenTransaction {
        var xid: UInt32
        var finalLSN: LSN
        var commitTime: PostgresTimestamp
        var stamp: TransactionStamp
    }

    public private(set) var relations: [UInt32: RelationDescriptor] = [:]
    private var open: OpenTransaction?
    private var openStream: UInt32?

    public init() {}

    /// Whether a non-streamed transaction is between Begin and Commit.
    public var inTransaction: Bool { open != nil }

    /// Registers a descriptor built with catalog details (primary key, type details) for the
    /// changes that follow; a later Relation message equal to it keeps it.
    public mutating func register(_ descriptor: RelationDescriptor) {
        relations[descriptor.relation.oid] = descriptor
    }

    public mutating func handle(_ message: PgOutputMessage, at lsn: LSN) throws(AssemblyError) -> Action {
        if message.streamXid != nil {
            guard let top = openStream else {
                throw AssemblyError(message: "a streamed change arrived outside a Stream Start/Stop block")
            }
            return .hold(xid: top)
        }
        switch message {
        case .begin(let begin):
            if let open { throw AssemblyError(message: "Begin of xid \(begin.xid) inside open xid \(open.xid)") }
            open = OpenTransaction(xid: begin.xid, finalLSN: begin.finalLSN, commitTime: begin.commitTime,
                                   stamp: TransactionStamp(xid: begin.xid, commitLSN: begin.finalLSN, commitTime: begin.commitTime))
            return .begin(xid: begin.xid, finalLSN: begin.finalLSN, commitTime: begin.commitTime)

        case .commit(let commit):
            guard let transaction = open else { throw AssemblyError(message: "Commit at \(commit.commitLSN) without Begin") }
            open = nil
            return .commit(transaction.stamp.commit(commitLSN: commit.commitLSN, endLSN: commit.endLSN, commitTime: commit.commitTime))

        case .origin(let origin):
            open?.stamp.origin = origin.name
            return .none

        case .relation(let relation):
            // An owner with catalog access registers a richer descriptor first (see `register`).
            if relations[relation.oid]?.relation != relation {
                relations[relation.oid] = RelationDescriptor(relation)
            }
            return .none

        case .type:
            // Types are resolved through the catalog (RelationCatalog), which knows more.
            return .none

        case .insert, .update, .delete, .truncate, .message:
            if case .message(let logical) = message, !logical.isTransactional {
                // Delivered as it is decoded, outside any transaction's commit.
                return .event(ChangeEvent(operation: .message, lsn: logical.lsn, xid: 0, message: logical))
            }
            let built = try Self.build(message, at: lsn, relations: relations)
            guard var transaction = open else {
                throw AssemblyError(message: "a change at \(lsn) arrived outside a transaction")
            }
            defer { open = transaction }
            switch built {
            case .none: return .none
            case .one(var event):
                transaction.stamp.apply(to: &event)
                return .event(event)
            case .many(var events):
                for i in events.indices { transaction.stamp.apply(to: &events[i]) }
                return .events(events)
            }

        case .streamStart(let start):
            openStream = start.xid
            return .none

        case .streamStop:
            openStream = nil
            return .none

        case .streamCommit(let commit):
            return .releaseStreamed(commit)

        case .streamAbort(let abort):
            return .discard(xid: abort.xid, subxid: abort.subxid)

        case .beginPrepare, .prepare, .commitPrepared, .rollbackPrepared, .streamPrepare:
            throw AssemblyError(message: "two-phase commit messages arrived, but pgreflex does not ask for two_phase")
        }
    }

    /// The events of one change message, before a transaction stamps them.
    enum Built {
        case none
        case one(ChangeEvent)
        case many([ChangeEvent])
    }

    /// Builds events from a change message; shared by the live path and streamed replays.
    static func build(_ message: PgOutputMessage, at lsn: LSN, relations: [UInt32: RelationDescriptor]) throws(AssemblyError) -> Built {
        switch message {
        case .insert(let insert):
            let relation = try descriptor(insert.relationOID, tuple: insert.newTuple, relations: relations)
            return .one(ChangeEvent(operation: .create, lsn: lsn, xid: insert.xid ?? 0, relation: relation, after: insert.newTuple))

        case .update(let update):
            let relation = try descriptor(update.relationOID, tuple: update.newTuple, relations: relations)
            if let old = update.old { _ = try descriptor(update.relationOID, tuple: old.tuple, relations: relations) }
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
                return .many([delete, create])
            }
            var event = ChangeEvent(operation: .update, lsn: lsn, xid: update.xid ?? 0, relation: relation, after: after)
            if let old = update.old {
                event.before = old.tuple
                if case .key = old { event.beforeIsKeyOnly = true }
            }
            return .one(event)

        case .delete(let delete):
            let relation = try descriptor(delete.relationOID, tuple: delete.old.tuple, relations: relations)
            var event = ChangeEvent(operation: .delete, lsn: lsn, xid: delete.xid ?? 0, relation: relation, before: delete.old.tuple)
            if case .key = delete.old { event.beforeIsKeyOnly = true }
            return .one(event)

        case .truncate(let truncate):
            var events: [ChangeEvent] = []
            for oid in truncate.relationOIDs {
                guard let relation = relations[oid] else {
                    throw AssemblyError(message: "Truncate of relation OID \(oid) before its Relation message")
                }
                events.append(ChangeEvent(operation: .truncate, lsn: lsn, xid: truncate.xid ?? 0, relation: relation,
                                          truncateOptions: truncate.options))
            }
            return events.isEmpty ? .none : .many(events)

        case .message(let logical):
            return .one(ChangeEvent(operation: .message, lsn: logical.lsn, xid: logical.xid ?? 0, message: logical))

        default:
            return .none
        }
    }

    static func descriptor(_ oid: UInt32, tuple: TupleData, relations: [UInt32: RelationDescriptor]) throws(AssemblyError) -> RelationDescriptor {
        guard let relation = relations[oid] else {
            throw AssemblyError(message: "a change to relation OID \(oid) arrived before its Relation message")
        }
        if tuple.columns.count != relation.relation.columns.count {
            throw AssemblyError(message: "a row of \(relation.qualifiedName) has "
                + "\(tuple.columns.count) columns, its Relation message \(relation.relation.columns.count)")
        }
        return relation
    }
}

/// Stamps a transaction's events with its xid, commit LSN and time, and their positions.
struct TransactionStamp: Sendable {
    let xid: UInt32
    let commitLSN: LSN
    let commitTime: PostgresTimestamp
    var origin: String?
    private(set) var ordinal = 0
    private var counts = CollectionCounter()

    init(xid: UInt32, commitLSN: LSN, commitTime: PostgresTimestamp) {
        self.xid = xid
        self.commitLSN = commitLSN
        self.commitTime = commitTime
    }

    mutating func apply(to event: inout ChangeEvent) {
        event.xid = xid
        event.commitLSN = commitLSN
        event.commitTime = commitTime
        event.ordinal = ordinal
        event.origin = origin
        if let relation = event.relation { event.dataCollectionOrder = counts.next(relation) }
        ordinal += 1
    }

    func commit(commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp) -> TransactionCommit {
        TransactionCommit(xid: xid, commitLSN: commitLSN, endLSN: endLSN, commitTime: commitTime,
                          eventCount: ordinal, dataCollections: counts.entries)
    }
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
