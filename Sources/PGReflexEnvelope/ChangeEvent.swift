public import PGReflexWire

/// One change, in the order it committed, with its transaction's context.
public struct ChangeEvent: Sendable {
    public enum Operation: UInt8, Sendable {
        case create = 0x63  // c
        case update = 0x75  // u
        case delete = 0x64  // d
        case truncate = 0x74  // t
        case message = 0x6D  // m
        /// A row read by a snapshot.
        case read = 0x72  // r
    }

    /// `source.snapshot` of a snapshot read, with Debezium's spellings.
    public enum SnapshotMarker: String, Sendable {
        /// A row of the initial snapshot.
        case initial = "true"
        /// The initial snapshot's final row.
        case last
        /// A row of an incremental snapshot.
        case incremental
    }

    public var operation: Operation
    /// Where the change was decoded (for a logical message, the message's own LSN).
    /// Several changes can share one (a multi-row INSERT): `ordinal` tells them apart.
    public var lsn: LSN
    /// The (sub)transaction id; 0 for a non-transactional message.
    public var xid: UInt32
    /// The commit record's LSN; `.invalid` for a non-transactional message.
    public var commitLSN: LSN
    public var commitTime: PostgresTimestamp?
    /// Position of this event among its transaction's events, from 0.
    public var ordinal: Int
    /// Position of this event among its transaction's events for the same table, from 1.
    public var dataCollectionOrder: Int
    public var relation: RelationDescriptor?
    public var before: TupleData?
    /// The before image holds only the replica identity key (the other columns are absent).
    public var beforeIsKeyOnly: Bool
    public var after: TupleData?
    public var message: PgOutputMessage.LogicalMessage?
    public var truncateOptions: PgOutputMessage.Truncate.Options
    public var origin: String?
    /// Set on snapshot reads (`source.snapshot`); nil: a streamed change (`"false"`).
    public var snapshot: SnapshotMarker?
    /// A backfill aimed at one route: only that route receives the event.
    public var route: String?

    public init(
        operation: Operation, lsn: LSN, xid: UInt32, commitLSN: LSN = .invalid, commitTime: PostgresTimestamp? = nil,
        ordinal: Int = 0, dataCollectionOrder: Int = 1, relation: RelationDescriptor? = nil, before: TupleData? = nil,
        beforeIsKeyOnly: Bool = false, after: TupleData? = nil, message: PgOutputMessage.LogicalMessage? = nil,
        truncateOptions: PgOutputMessage.Truncate.Options = [], origin: String? = nil,
        snapshot: SnapshotMarker? = nil, route: String? = nil
    ) {
        self.snapshot = snapshot
        self.route = route
        self.operation = operation
        self.lsn = lsn
        self.xid = xid
        self.commitLSN = commitLSN
        self.commitTime = commitTime
        self.ordinal = ordinal
        self.dataCollectionOrder = dataCollectionOrder
        self.relation = relation
        self.before = before
        self.beforeIsKeyOnly = beforeIsKeyOnly
        self.after = after
        self.message = message
        self.truncateOptions = truncateOptions
        self.origin = origin
    }

    /// A stable, unique id: the commit LSN (or, for a non-transactional message, its own LSN)
    /// and the ordinal within the transaction, both fixed-width hex so ids sort in commit order.
    /// Replaying the same WAL gives the same ids; a multi-row INSERT's changes share an LSN but
    /// not an id.
    public func writeID(into buffer: inout [UInt8]) {
        EventID.append(lsn: (commitLSN == .invalid ? lsn : commitLSN).rawValue, ordinal: ordinal, into: &buffer)
    }

    public var id: String {
        EventID.string(lsn: (commitLSN == .invalid ? lsn : commitLSN).rawValue, ordinal: ordinal)
    }
}

/// How many events of one table a transaction had.
public struct DataCollectionCount: Sendable, Equatable {
    public var relationOID: UInt32
    public var schema: String
    public var table: String
    public var eventCount: Int
}

/// A transaction's end: what a consumer confirms once its events are durable.
public struct TransactionCommit: Sendable, Equatable {
    public var xid: UInt32
    public var commitLSN: LSN
    /// Confirming this LSN tells the slot the whole transaction is done.
    public var endLSN: LSN
    public var commitTime: PostgresTimestamp
    public var eventCount: Int
    /// Events per table, in order of each table's first event.
    public var dataCollections: [DataCollectionCount]
}
