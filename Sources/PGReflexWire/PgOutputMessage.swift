/// A message of PostgreSQL's `pgoutput` logical decoding plugin, protocol versions 1 to 4.
///
/// Messages that can occur inside a streamed transaction (protocol 2 and later) carry the
/// transaction id of the (sub)transaction they belong to in `xid`; outside a stream block
/// `xid` is nil, as on the wire.
public enum PgOutputMessage: Sendable, Equatable {
    case begin(Begin)
    case commit(Commit)
    case origin(Origin)
    case relation(Relation)
    case type(TypeMessage)
    case insert(Insert)
    case update(Update)
    case delete(Delete)
    case truncate(Truncate)
    case message(LogicalMessage)
    case streamStart(StreamStart)
    case streamStop
    case streamCommit(StreamCommit)
    case streamAbort(StreamAbort)
    case beginPrepare(BeginPrepare)
    case prepare(Prepare)
    case commitPrepared(CommitPrepared)
    case rollbackPrepared(RollbackPrepared)
    /// Same layout as Prepare, sent for a streamed transaction (protocol 3 and later).
    case streamPrepare(Prepare)

    public enum ID: UInt8, Sendable, CaseIterable {
        case begin = 0x42  // B
        case commit = 0x43  // C
        case origin = 0x4F  // O
        case relation = 0x52  // R
        case type = 0x59  // Y
        case insert = 0x49  // I
        case update = 0x55  // U
        case delete = 0x44  // D
        case truncate = 0x54  // T
        case message = 0x4D  // M
        case streamStart = 0x53  // S
        case streamStop = 0x45  // E
        case streamCommit = 0x63  // c
        case streamAbort = 0x41  // A
        case beginPrepare = 0x62  // b
        case prepare = 0x50  // P
        case commitPrepared = 0x4B  // K
        case rollbackPrepared = 0x72  // r
        case streamPrepare = 0x70  // p

        /// The first protocol version that defines the message.
        public var minimumProtocolVersion: Int {
            switch self {
            case .streamStart, .streamStop, .streamCommit, .streamAbort: 2
            case .beginPrepare, .prepare, .commitPrepared, .rollbackPrepared, .streamPrepare: 3
            default: 1
            }
        }

        /// Change messages carry the (sub)transaction's xid when sent inside a stream block.
        public var takesStreamXid: Bool {
            switch self {
            case .relation, .type, .insert, .update, .delete, .truncate, .message: true
            default: false
            }
        }

        var name: String {
            switch self {
            case .begin: "Begin"
            case .commit: "Commit"
            case .origin: "Origin"
            case .relation: "Relation"
            case .type: "Type"
            case .insert: "Insert"
            case .update: "Update"
            case .delete: "Delete"
            case .truncate: "Truncate"
            case .message: "Message"
            case .streamStart: "Stream Start"
            case .streamStop: "Stream Stop"
            case .streamCommit: "Stream Commit"
            case .streamAbort: "Stream Abort"
            case .beginPrepare: "Begin Prepare"
            case .prepare: "Prepare"
            case .commitPrepared: "Commit Prepared"
            case .rollbackPrepared: "Rollback Prepared"
            case .streamPrepare: "Stream Prepare"
            }
        }
    }

    public var id: ID {
        switch self {
        case .begin: .begin
        case .commit: .commit
        case .origin: .origin
        case .relation: .relation
        case .type: .type
        case .insert: .insert
        case .update: .update
        case .delete: .delete
        case .truncate: .truncate
        case .message: .message
        case .streamStart: .streamStart
        case .streamStop: .streamStop
        case .streamCommit: .streamCommit
        case .streamAbort: .streamAbort
        case .beginPrepare: .beginPrepare
        case .prepare: .prepare
        case .commitPrepared: .commitPrepared
        case .rollbackPrepared: .rollbackPrepared
        case .streamPrepare: .streamPrepare
        }
    }
}

extension PgOutputMessage {
    /// Decodes one message. `streamed` says whether it arrives inside a Stream Start/Stop
    /// block (then the change messages carry an xid); `parallelStreaming` whether the
    /// subscription asked for `streaming = parallel` (then Stream Abort carries the abort
    /// LSN and time, protocol 4).
    public static func decode(
        storage: [UInt8], range: Range<Int>, protocolVersion: Int,
        streamed: Bool, parallelStreaming: Bool
    ) throws(WireDecodingError) -> PgOutputMessage {
        var reader = WireReader(storage: storage, range: range, message: "pgoutput message")
        if reader.remaining == 0 { throw reader.error(.emptyMessage, "type") }
        let type = try reader.readUInt8("type")
        guard let id = ID(rawValue: type), id.minimumProtocolVersion <= protocolVersion else {
            throw reader.error(.unknownMessageType, "type 0x\(String(type, radix: 16)) (protocol \(protocolVersion))")
        }
        reader.message = "pgoutput \(id.name)"
        let xid: UInt32? = streamed && id.takesStreamXid ? try reader.readUInt32("xid") : nil
        let message: PgOutputMessage
        switch id {
        case .begin: message = .begin(try .decode(from: &reader))
        case .commit: message = .commit(try .decode(from: &reader))
        case .origin: message = .origin(try .decode(from: &reader))
        case .relation: message = .relation(try .decode(from: &reader, xid: xid))
        case .type: message = .type(try .decode(from: &reader, xid: xid))
        case .insert: message = .insert(try .decode(from: &reader, xid: xid))
        case .update: message = .update(try .decode(from: &reader, xid: xid))
        case .delete: message = .delete(try .decode(from: &reader, xid: xid))
        case .truncate: message = .truncate(try .decode(from: &reader, xid: xid))
        case .message: message = .message(try .decode(from: &reader, xid: xid))
        case .streamStart: message = .streamStart(try .decode(from: &reader))
        case .streamStop: message = .streamStop
        case .streamCommit: message = .streamCommit(try .decode(from: &reader))
        case .streamAbort: message = .streamAbort(try .decode(from: &reader, parallel: parallelStreaming))
        case .beginPrepare: message = .beginPrepare(try .decode(from: &reader))
        case .prepare: message = .prepare(try .decode(from: &reader))
        case .commitPrepared: message = .commitPrepared(try .decode(from: &reader))
        case .rollbackPrepared: message = .rollbackPrepared(try .decode(from: &reader))
        case .streamPrepare: message = .streamPrepare(try .decode(from: &reader))
        }
        try reader.finish()
        return message
    }

    /// The xid prefix a change message carries inside a stream block, if any: the xid of the
    /// (sub)transaction it belongs to.
    public var streamXid: UInt32? {
        switch self {
        case .relation(let m): m.xid
        case .type(let m): m.xid
        case .insert(let m): m.xid
        case .update(let m): m.xid
        case .delete(let m): m.xid
        case .truncate(let m): m.xid
        case .message(let m): m.xid
        default: nil
        }
    }

    /// Encodes the message as the server would send it. The xid prefix is written when the
    /// payload has one; stream-control and transaction messages never take one.
    public func encode() -> [UInt8] {
        var writer = WireWriter()
        writer.writeUInt8(id.rawValue)
        if let xid = streamXid { writer.writeUInt32(xid) }
        switch self {
        case .begin(let m): m.encode(into: &writer)
        case .commit(let m): m.encode(into: &writer)
        case .origin(let m): m.encode(into: &writer)
        case .relation(let m): m.encode(into: &writer)
        case .type(let m): m.encode(into: &writer)
        case .insert(let m): m.encode(into: &writer)
        case .update(let m): m.encode(into: &writer)
        case .delete(let m): m.encode(into: &writer)
        case .truncate(let m): m.encode(into: &writer)
        case .message(let m): m.encode(into: &writer)
        case .streamStart(let m): m.encode(into: &writer)
        case .streamStop: break
        case .streamCommit(let m): m.encode(into: &writer)
        case .streamAbort(let m): m.encode(into: &writer)
        case .beginPrepare(let m): m.encode(into: &writer)
        case .prepare(let m): m.encode(into: &writer)
        case .commitPrepared(let m): m.encode(into: &writer)
        case .rollbackPrepared(let m): m.encode(into: &writer)
        case .streamPrepare(let m): m.encode(into: &writer)
        }
        return writer.bytes
    }
}
