import PGReflexPrivacy
public import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

/// Writes change events as Debezium-compatible envelopes (JSON with schemas disabled), one per
/// line, with the field order of Debezium's code:
/// `before, after, source, transaction, op, ts_ms, ts_us, ts_ns`, then pgreflex's own `id`
/// (stable across replays) and `key` (the key columns), and `message` for logical messages.
public struct EnvelopeWriter: Sendable {
    public struct Options: Sendable {
        /// `source.name`: Debezium's `topic.prefix`.
        public var serverName: String
        /// `source.db`.
        public var database: String
        /// Stands for a TOASTed value the change did not send (Debezium's default spelling).
        public var unavailableValuePlaceholder: String
        /// Emit BEGIN and END transaction events, as Debezium's `provide.transaction.metadata`.
        public var transactionEvents: Bool
        /// How numeric and money values are written (Debezium's `decimal.handling.mode`).
        public var decimalHandling: DecimalHandling

        public init(serverName: String = "pgreflex", database: String,
                    unavailableValuePlaceholder: String = "__debezium_unavailable_value", transactionEvents: Bool = false,
                    decimalHandling: DecimalHandling = .string) {
            self.decimalHandling = decimalHandling
            self.serverName = serverName
            self.database = database
            self.unavailableValuePlaceholder = unavailableValuePlaceholder
            self.transactionEvents = transactionEvents
        }
    }

    /// When pgreflex handled the event: the envelope's top-level `ts_*`.
    public struct ProcessingTime: Sendable {
        public var unixMicroseconds: Int64

        public init(unixMicroseconds: Int64) {
            self.unixMicroseconds = unixMicroseconds
        }

        public static func now() -> ProcessingTime {
            ProcessingTime(unixMicroseconds: PostgresTimestamp.now().unixMicroseconds)
        }
    }

    public static let version = "0.1.0"

    public let options: Options
    /// `{"version":…,"connector":"postgresql","name":…,` precomputed.
    private let sourceHead: [UInt8]
    /// `","db":…,"sequence":"[` precomputed (after the `snapshot` value).
    private let sourceDatabase: [UInt8]
    private let placeholder: [UInt8]
    /// The commit LSN of the transaction before the current one: `sequence`'s first element.
    public private(set) var previousCommitLSN: LSN?
    private var cachedCommitLSN = LSN(UInt64.max)
    private var cachedTransactionID: [UInt8] = []

    public init(options: Options) {
        self.options = options
        var head = JSONWriter()
        head.raw("{\"version\":")
        head.string(Self.version)
        head.raw(",\"connector\":\"postgresql\",\"name\":")
        head.string(options.serverName)
        head.raw(",\"ts_ms\":")
        sourceHead = head.bytes
        var db = JSONWriter()
        db.raw("\",\"db\":")
        db.string(options.database)
        db.raw(",\"sequence\":\"[")
        sourceDatabase = db.bytes
        var placeholder = JSONWriter()
        placeholder.string(options.unavailableValuePlaceholder)
        self.placeholder = placeholder.bytes
    }

    /// Call after a transaction's events are written: later events cite its commit LSN.
    public mutating func committed(_ commit: TransactionCommit) {
        previousCommitLSN = commit.commitLSN
    }

    // MARK: change events

    /// Returns where the event's key (its JSON, or `null`) lies in `writer.bytes`.
    @discardableResult
    public mutating func write(_ event: ChangeEvent, at processing: ProcessingTime, into writer: inout JSONWriter) -> Range<Int> {
        writer.raw("{\"before\":")
        if let before = event.before, let relation = event.relation {
            writeRow(before, relation: relation, keyOnly: event.beforeIsKeyOnly, into: &writer)
        } else {
            writer.null()
        }
        writer.raw(",\"after\":")
        if let after = event.after, let relation = event.relation {
            writeRow(after, relation: relation, keyOnly: false, into: &writer)
        } else {
            writer.null()
        }
        writer.raw(",\"source\":")
        writeSource(event, processing: processing, into: &writer)
        writer.raw(",\"transaction\":")
        let transactional = event.commitLSN != .invalid
        if transactional {
            writer.raw("{\"id\":\"")
            writeTransactionID(xid: event.xid, commitLSN: event.commitLSN, into: &writer)
            writer.raw("\",\"total_order\":")
            writer.integer(event.ordinal + 1)
            writer.raw(",\"data_collection_order\":")
            writer.integer(event.dataCollectionOrder)
            writer.raw(UInt8(ascii: "}"))
        } else {
            writer.null()
        }
        writer.raw(",\"op\":\"")
        writer.raw(event.operation.rawValue)
        writer.raw("\",")
        if processingCache.micros != processing.unixMicroseconds {
            var times = JSONWriter(capacity: 80)
            Self.writeTimes(processing.unixMicroseconds, into: &times)
            processingCache = (processing.unixMicroseconds, times.bytes)
        }
        writer.raw(processingCache.bytes)
        if let message = event.message {
            writer.raw(",\"message\":{\"prefix\":")
            writer.string(message.prefix)
            writer.raw(",\"content\":")
            writer.base64String(message.content.bytes)
            writer.raw(UInt8(ascii: "}"))
        }
        writer.raw(",\"id\":\"")
        event.writeID(into: &writer.bytes)
        writer.raw("\",\"key\":")
        let keyStart = writer.bytes.count
        writeKey(event, into: &writer)
        let key = keyStart..<writer.bytes.count
        writer.raw("}\n")
        return key
    }

    /// The parts of `source` that are the same for every event of a transaction, so each
    /// event only formats its own LSN and table.
    private struct SourceSegments {
        var key: (commitLSN: LSN, xid: UInt32, micros: Int64, previous: LSN?, snapshot: ChangeEvent.SnapshotMarker?)?
        /// From `{"version"` through `"sequence":"[<previous>,\"`.
        var head: [UInt8] = []
        /// `\"]","ts_us":…,"ts_ns":…,"schema":`.
        var middle: [UInt8] = []
        /// `,"txId":…,"lsn":`.
        var tail: [UInt8] = []
    }

    private var segments = SourceSegments()
    private var processingCache: (micros: Int64, bytes: [UInt8]) = (.min, [])

    private mutating func prepareSegments(_ event: ChangeEvent, processing: ProcessingTime) {
        let micros = event.commitTime?.unixMicroseconds ?? processing.unixMicroseconds
        let transactional = event.commitLSN != .invalid
        // Snapshot reads share everything but their LSN too: a chunk formats its source once.
        if let key = segments.key, transactional || event.snapshot != nil, key.commitLSN == event.commitLSN, key.xid == event.xid,
           key.micros == micros, key.previous == previousCommitLSN, key.snapshot == event.snapshot {
            return
        }
        var head = JSONWriter(capacity: 160)
        head.raw(sourceHead)
        head.integer(micros / 1000)
        head.raw(",\"snapshot\":\"")
        head.raw((event.snapshot?.rawValue ?? "false").utf8)
        head.raw(sourceDatabase)
        if let previousCommitLSN {
            head.raw("\\\"")
            head.unsigned(previousCommitLSN.rawValue)
            head.raw("\\\"")
        } else {
            head.raw("null")
        }
        head.raw(",\\\"")
        var middle = JSONWriter(capacity: 64)
        middle.raw("\\\"]\",")
        Self.writeTimes(micros, skipMilliseconds: true, into: &middle)
        middle.raw(",\"schema\":")
        var tail = JSONWriter(capacity: 32)
        tail.raw(",\"txId\":")
        if transactional { tail.integer(event.xid) } else { tail.null() }
        tail.raw(",\"lsn\":")
        segments = SourceSegments(key: transactional || event.snapshot != nil
                                      ? (event.commitLSN, event.xid, micros, previousCommitLSN, event.snapshot) : nil,
                                  head: head.bytes, middle: middle.bytes, tail: tail.bytes)
    }

    private mutating func writeSource(_ event: ChangeEvent, processing: ProcessingTime, into writer: inout JSONWriter) {
        prepareSegments(event, processing: processing)
        writer.raw(segments.head)
        writer.unsigned(event.lsn.rawValue)
        writer.raw(segments.middle)
        if let relation = event.relation { writer.raw(relation.schemaJSON) } else { writer.null() }
        writer.raw(",\"table\":")
        if let relation = event.relation {
            writer.raw(relation.tableJSON)
            writer.raw(relation.schemaVersionJSON)
        } else {
            writer.raw("null,\"schema_version\":null")
        }
        writer.raw(segments.tail)
        writer.unsigned(event.lsn.rawValue)
        writer.raw(",\"xmin\":null")
        if let origin = event.origin {
            writer.raw(",\"origin\":")
            writer.string(origin)
        }
        writer.raw(UInt8(ascii: "}"))
    }

    /// `xid:commitLSN`, as Debezium writes a PostgreSQL transaction id; cached per transaction.
    private mutating func writeTransactionID(xid: UInt32, commitLSN: LSN, into writer: inout JSONWriter) {
        if cachedCommitLSN != commitLSN {
            var id = JSONWriter(capacity: 32)
            id.integer(xid)
            id.raw(UInt8(ascii: ":"))
            id.integer(commitLSN.rawValue)
            cachedTransactionID = id.bytes
            cachedCommitLSN = commitLSN
        }
        writer.raw(cachedTransactionID)
    }

    /// `"ts_ms":…,"ts_us":…,"ts_ns":…` (or without `ts_ms`).
    private static func writeTimes(_ micros: Int64, skipMilliseconds: Bool = false, into writer: inout JSONWriter) {
        if !skipMilliseconds {
            writer.raw("\"ts_ms\":")
            writer.integer(micros / 1000)
            writer.raw(UInt8(ascii: ","))
        }
        writer.raw("\"ts_us\":")
        writer.integer(micros)
        writer.raw(",\"ts_ns\":")
        writer.integer(micros * 1000)
    }

    private func writeKey(_ event: ChangeEvent, into writer: inout JSONWriter) {
        guard let relation = event.relation, !relation.shownKeyColumnIndexes.isEmpty,
              let row = event.after ?? event.before
        else {
            writer.null()
            return
        }
        writeColumns(row, relation: relation, indexes: relation.shownKeyColumnIndexes, into: &writer)
    }

    private func writeRow(_ tuple: TupleData, relation: RelationDescriptor, keyOnly: Bool, into writer: inout JSONWriter) {
        // A tuple always has the relation's column count (the decoder checks it).
        writeColumns(tuple, relation: relation, indexes: keyOnly ? relation.identityColumnIndexes : relation.rowColumnIndexes,
                     into: &writer)
    }

    /// `{"col":value,…}` for the given columns, reading names, kinds and values through
    /// buffer pointers taken once per row.
    private func writeColumns<Indexes: Collection<Int>>(
        _ tuple: TupleData, relation: RelationDescriptor, indexes: Indexes, into writer: inout JSONWriter
    ) {
        writer.raw(UInt8(ascii: "{"))
        tuple.storage.withUnsafeBufferPointer { storage in
            relation.columnKeyBytes.withUnsafeBufferPointer { keys in
                relation.columnKeyRanges.withUnsafeBufferPointer { keyRanges in
                    relation.columnKinds.withUnsafeBufferPointer { kinds in
                        tuple.columns.withUnsafeBufferPointer { columns in
                            var first = true
                            for index in indexes {
                                if !first { writer.raw(UInt8(ascii: ",")) }
                                first = false
                                writer.raw(UnsafeBufferPointer(rebasing: keys[keyRanges[index]]))
                                if let policies = relation.policies, let policy = policies[index] {
                                    writeProtected(columns[index], storage: storage, policy: policy, privacy: relation.privacy!,
                                                   into: &writer)
                                } else {
                                    writeValue(columns[index], storage: storage, kind: kinds[index], into: &writer)
                                }
                            }
                        }
                    }
                }
            }
        }
        writer.raw(UInt8(ascii: "}"))
    }

    private func writeValue(_ column: TupleData.Column, storage: UnsafeBufferPointer<UInt8>, kind: ValueKind,
                            into writer: inout JSONWriter) {
        switch column {
        case .null:
            writer.null()
        case .unchangedToast:
            writer.raw(placeholder)
        case .binary(let range):
            writer.base64String(UnsafeBufferPointer(rebasing: storage[range]))
        case .text(let range):
            kind.write(UnsafeBufferPointer(rebasing: storage[range]), decimal: options.decimalHandling, into: &writer)
        }
    }

    /// A protected column: always a JSON string (or null), whatever the column's type, so a
    /// number that is tokenized stays valid JSON of a documented type.
    private func writeProtected(_ column: TupleData.Column, storage: UnsafeBufferPointer<UInt8>, policy: ColumnPolicy,
                                privacy: PrivacyPolicy, into writer: inout JSONWriter) {
        switch column {
        case .null:
            writer.null()
        case .unchangedToast:
            writer.raw(placeholder)
        case .binary(let range), .text(let range):
            writer.string(privacy.protect(UnsafeBufferPointer(rebasing: storage[range]), with: policy))
        }
    }

    // MARK: transaction events

    /// Debezium's transaction BEGIN event.
    public func writeBegin(xid: UInt32, commitLSN: LSN, commitTime: PostgresTimestamp, into writer: inout JSONWriter) {
        writer.raw("{\"status\":\"BEGIN\",\"id\":\"")
        writer.integer(xid)
        writer.raw(UInt8(ascii: ":"))
        writer.integer(commitLSN.rawValue)
        writer.raw("\",\"event_count\":null,\"data_collections\":null,\"ts_ms\":")
        writer.integer(commitTime.unixMicroseconds / 1000)
        writer.raw("}\n")
    }

    /// Debezium's transaction END event, with the events per table.
    public func writeEnd(_ commit: TransactionCommit, into writer: inout JSONWriter) {
        writer.raw("{\"status\":\"END\",\"id\":\"")
        writer.integer(commit.xid)
        writer.raw(UInt8(ascii: ":"))
        writer.integer(commit.commitLSN.rawValue)
        writer.raw("\",\"event_count\":")
        writer.integer(commit.eventCount)
        writer.raw(",\"data_collections\":[")
        for (n, collection) in commit.dataCollections.enumerated() {
            if n > 0 { writer.raw(UInt8(ascii: ",")) }
            writer.raw("{\"data_collection\":")
            writer.string("\(collection.schema).\(collection.table)")
            writer.raw(",\"event_count\":")
            writer.integer(collection.eventCount)
            writer.raw(UInt8(ascii: "}"))
        }
        writer.raw("],\"ts_ms\":")
        writer.integer(commit.commitTime.unixMicroseconds / 1000)
        writer.raw("}\n")
    }
}
