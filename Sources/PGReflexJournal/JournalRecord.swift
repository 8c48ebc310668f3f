public import PGReflexWire

/// One journal record: an event (its envelope, already redacted by the privacy policies) at its
/// position, what it is (``Metadata``), and, on a transaction's last event, that transaction's
/// end LSN. Readers learn what an event is from the metadata without parsing the envelope.
///
/// On disk: `length:u32 crc32c:u32 payload`, little-endian; the payload is
/// `commitLSN:u64 ordinal:u32 flags:u8 [endLSN:u64] [metadata] envelope`, where flag 1 says an
/// end LSN follows and flag 2 that metadata does:
/// `op:u8 xid:u32 commitTime:i64 schemaVersion:u32 keyHash:u64 tableLength:u16 table`;
/// flag 4 (with 2) that the event is for one route only: `routeLength:u16 route`;
/// flag 8 (with 2) that capture says who caused it: `kind:u8` (0 no agent, 1 an agent's change,
/// 2 a causation tag, 3 a tag without a readable cause), then for kinds 1 and 2
/// `depth:u32 agentLength:u16 agent`;
/// flag 16 (with 2) that the time capture journaled it follows: `journaledAt:i64`.
/// Format 1 records (segments written before metadata) never set flag 2; format 2 records never
/// set flag 8; format 3 records never set flag 16.
public struct JournalRecord: Equatable, Sendable {
    /// What an event is, for routing, holds, partitioning and per-key order.
    public struct Metadata: Equatable, Sendable {
        /// `schema.table`; empty for a logical message.
        public var table: String
        /// Debezium's op: `c`, `u`, `d`, `t`, `m` (and `r` for snapshot reads).
        public var operation: UInt8
        /// The table's schema version; nil for logical messages.
        public var schemaVersion: Int?
        public var xid: UInt32
        /// Unix microseconds; 0 when unknown (a non-transactional message).
        public var commitTime: Int64
        /// 64-bit FNV-1a of the event's key as written (after privacy); 0 when it has no key.
        public var keyHash: UInt64
        /// A backfill aimed at one route (`snapshot start --route`): no other route or
        /// consumer receives the event.
        public var route: String?
        /// Who caused the event, as capture saw it.
        public var causation: Causation
        /// When capture appended it to the journal, Unix microseconds; 0 when not said (format 3
        /// and older). `event show` reports the time from commit to journal with it.
        public var journaledAt: Int64

        /// Whether an agent's action made the change (the loop guard's input), as capture saw it
        /// from the replication origin or from the causation tag earlier in the transaction.
        public enum Causation: Equatable, Sendable {
            /// Written before capture said (format 2 and older): a reader looks in the envelope.
            case unknown
            /// No agent's action.
            case none
            /// An agent's action, `depth` deep in a chain of them.
            case agent(depth: Int, agent: String)
            /// A causation tag: nobody's event; its cause marks the rest of its transaction.
            case tag(depth: Int, agent: String)
            /// A causation tag whose content says no cause: nobody's event, and no mark.
            case unreadableTag
        }

        public init(table: String, operation: UInt8, schemaVersion: Int?, xid: UInt32, commitTime: Int64, keyHash: UInt64,
                    route: String? = nil, causation: Causation = .unknown, journaledAt: Int64 = 0) {
            self.journaledAt = journaledAt
            self.route = route
            self.causation = causation
            self.table = table
            self.operation = operation
            self.schemaVersion = schemaVersion
            self.xid = xid
            self.commitTime = commitTime
            self.keyHash = keyHash
        }

        /// FNV-1a, 64-bit: stable across processes and versions (Swift's `Hasher` is seeded per
        /// process), cheap, and good enough to spread keys over partitions.
        public static func keyHash<C: Collection<UInt8>>(_ key: C) -> UInt64 {
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for byte in key {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01B3
            }
            return hash
        }
    }

    public var position: EventPosition
    /// Set on the last event of a transaction: confirming it releases the transaction.
    public var transactionEnd: LSN?
    /// nil only for records of format 1 journals.
    public var metadata: Metadata?
    public var envelope: [UInt8]

    public init(position: EventPosition, transactionEnd: LSN? = nil, metadata: Metadata? = nil, envelope: [UInt8]) {
        self.position = position
        self.transactionEnd = transactionEnd
        self.metadata = metadata
        self.envelope = envelope
    }

    static let headerSize = 8

    /// Appends the framed record (header and payload) to `buffer`.
    public func encode(into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: [0, 0, 0, 0, 0, 0, 0, 0])
        Self.append(position.commitLSN.rawValue, into: &buffer)
        Self.append(UInt32(truncatingIfNeeded: position.ordinal), into: &buffer)
        let causation = metadata?.causation ?? .unknown
        let journaledAt = metadata?.journaledAt ?? 0
        buffer.append((transactionEnd == nil ? 0 : 1) | (metadata == nil ? 0 : 2) | (metadata?.route == nil ? 0 : 4) | (causation == .unknown ? 0 : 8)
            | (journaledAt == 0 ? 0 : 16))
        if let transactionEnd { Self.append(transactionEnd.rawValue, into: &buffer) }
        if let metadata {
            buffer.append(metadata.operation)
            Self.append(metadata.xid, into: &buffer)
            Self.append(metadata.commitTime, into: &buffer)
            Self.append(UInt32(truncatingIfNeeded: metadata.schemaVersion ?? 0), into: &buffer)
            Self.append(metadata.keyHash, into: &buffer)
            let table = metadata.table.utf8.prefix(Int(UInt16.max))
            Self.append(UInt16(table.count), into: &buffer)
            buffer.append(contentsOf: table)
            if let route = metadata.route?.utf8.prefix(Int(UInt16.max)) {
                Self.append(UInt16(route.count), into: &buffer)
                buffer.append(contentsOf: route)
            }
            switch causation {
            case .unknown: break
            case .none: buffer.append(0)
            case .unreadableTag: buffer.append(3)
            case .agent(let depth, let agent), .tag(let depth, let agent):
                if case .agent = causation { buffer.append(1) } else { buffer.append(2) }
                Self.append(UInt32(clamping: depth), into: &buffer)
                let name = agent.utf8.prefix(Int(UInt16.max))
                Self.append(UInt16(name.count), into: &buffer)
                buffer.append(contentsOf: name)
            }
            if journaledAt != 0 { Self.append(journaledAt, into: &buffer) }
        }
        buffer.append(contentsOf: envelope)
        let payload = buffer.count - start - Self.headerSize
        let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + Self.headerSize)...])) }
        Self.store(UInt32(payload), at: start, in: &buffer)
        Self.store(crc, at: start + 4, in: &buffer)
    }

    /// Decodes a payload whose checksum has been verified.
    static func decode(payload: ArraySlice<UInt8>) -> JournalRecord? {
        guard payload.count >= 13 else { return nil }
        let base = payload.startIndex
        let lsn = load(UInt64.self, payload, base)
        let ordinal = load(UInt32.self, payload, base + 8)
        let flags = payload[base + 12]
        // Flags 4, 8 and 16 only with metadata (2).
        guard flags & ~31 == 0, flags & 6 != 4, flags & 10 != 8, flags & 18 != 16 else { return nil }
        var offset = base + 13
        var end: LSN?
        if flags & 1 != 0 {
            guard payload.endIndex - offset >= 8 else { return nil }
            end = LSN(load(UInt64.self, payload, offset))
            offset += 8
        }
        var metadata: Metadata?
        if flags & 2 != 0 {
            guard payload.endIndex - offset >= 27 else { return nil }
            let operation = payload[offset]
            let xid = load(UInt32.self, payload, offset + 1)
            let commitTime = load(Int64.self, payload, offset + 5)
            let version = load(UInt32.self, payload, offset + 13)
            let keyHash = load(UInt64.self, payload, offset + 17)
            let tableLength = Int(load(UInt16.self, payload, offset + 25))
            offset += 27
            guard payload.endIndex - offset >= tableLength else { return nil }
            let table = String(decoding: payload[offset..<(offset + tableLength)], as: UTF8.self)
            offset += tableLength
            var route: String?
            if flags & 4 != 0 {
                guard payload.endIndex - offset >= 2 else { return nil }
                let length = Int(load(UInt16.self, payload, offset))
                offset += 2
                guard payload.endIndex - offset >= length else { return nil }
                route = String(decoding: payload[offset..<(offset + length)], as: UTF8.self)
                offset += length
            }
            var causation = Metadata.Causation.unknown
            if flags & 8 != 0 {
                guard payload.endIndex - offset >= 1 else { return nil }
                let kind = payload[offset]
                offset += 1
                switch kind {
                case 0: causation = .none
                case 3: causation = .unreadableTag
                case 1, 2:
                    guard payload.endIndex - offset >= 6 else { return nil }
                    let depth = Int(load(UInt32.self, payload, offset))
                    let length = Int(load(UInt16.self, payload, offset + 4))
                    offset += 6
                    guard payload.endIndex - offset >= length else { return nil }
                    let agent = String(decoding: payload[offset..<(offset + length)], as: UTF8.self)
                    offset += length
                    causation = kind == 1 ? .agent(depth: depth, agent: agent) : .tag(depth: depth, agent: agent)
                default: return nil
                }
            }
            var journaledAt: Int64 = 0
            if flags & 16 != 0 {
                guard payload.endIndex - offset >= 8 else { return nil }
                journaledAt = load(Int64.self, payload, offset)
                offset += 8
            }
            metadata = Metadata(table: table, operation: operation, schemaVersion: version == 0 ? nil : Int(version), xid: xid,
                                commitTime: commitTime, keyHash: keyHash, route: route, causation: causation, journaledAt: journaledAt)
        }
        return JournalRecord(position: EventPosition(commitLSN: LSN(lsn), ordinal: Int(ordinal)), transactionEnd: end,
                             metadata: metadata, envelope: Array(payload[offset...]))
    }

    static func append<T: FixedWidthInteger>(_ value: T, into buffer: inout [UInt8]) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { buffer.append(contentsOf: $0) }
    }

    static func store(_ value: UInt32, at offset: Int, in buffer: inout [UInt8]) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { raw in for i in 0..<4 { buffer[offset + i] = raw[i] } }
    }

    static func load<T: FixedWidthInteger>(_: T.Type, _ bytes: ArraySlice<UInt8>, _ offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + i]) << (8 * i) }
        return value
    }
}
