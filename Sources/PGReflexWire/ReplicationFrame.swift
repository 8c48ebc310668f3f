/// One CopyData payload of the streaming-replication protocol, from the server.
public enum ReplicationFrame: Sendable, Equatable {
    case xLogData(XLogData)
    case primaryKeepalive(PrimaryKeepalive)

    public enum ID: UInt8, Sendable {
        /// `w`
        case xLogData = 0x77
        /// `k`
        case primaryKeepalive = 0x6B
    }

    /// WAL data; for a logical slot, `data` holds exactly one pgoutput message.
    public struct XLogData: Sendable, Equatable {
        /// The WAL position the message was decoded at (for a change, its record's LSN).
        public var walStart: LSN
        /// The server's current end of WAL. Not a position the client may confirm.
        public var walEnd: LSN
        public var serverTime: PostgresTimestamp
        /// The pgoutput message, as a range of the batch's shared storage.
        public var data: Range<Int>

        public init(walStart: LSN, walEnd: LSN, serverTime: PostgresTimestamp, data: Range<Int>) {
            self.walStart = walStart
            self.walEnd = walEnd
            self.serverTime = serverTime
            self.data = data
        }
    }

    public struct PrimaryKeepalive: Sendable, Equatable {
        /// How far the server has sent. Everything committed before it has been sent;
        /// confirming it without having handled those changes would lose them.
        public var walEnd: LSN
        public var serverTime: PostgresTimestamp
        public var replyRequested: Bool

        public init(walEnd: LSN, serverTime: PostgresTimestamp, replyRequested: Bool) {
            self.walEnd = walEnd
            self.serverTime = serverTime
            self.replyRequested = replyRequested
        }
    }

    /// Decodes one CopyData payload held at `range` of `storage`.
    public static func decode(storage: [UInt8], range: Range<Int>) throws(WireDecodingError) -> ReplicationFrame {
        var reader = WireReader(storage: storage, range: range, message: "replication frame")
        if reader.remaining == 0 { throw reader.error(.emptyMessage, "type") }
        let type = try reader.readUInt8("type")
        switch ID(rawValue: type) {
        case .xLogData:
            reader.message = "XLogData"
            let start = try reader.readLSN("walStart")
            let end = try reader.readLSN("walEnd")
            let time = try reader.readTimestamp("sendTime")
            return .xLogData(XLogData(walStart: start, walEnd: end, serverTime: time, data: reader.readRemaining()))
        case .primaryKeepalive:
            reader.message = "primary keepalive"
            let end = try reader.readLSN("walEnd")
            let time = try reader.readTimestamp("sendTime")
            let reply = try reader.readUInt8("replyRequested")
            try reader.finish()
            return .primaryKeepalive(PrimaryKeepalive(walEnd: end, serverTime: time, replyRequested: reply != 0))
        case nil:
            throw reader.error(.unknownMessageType, "type 0x\(String(type, radix: 16))")
        }
    }

    public func encode(payload: [UInt8]) -> [UInt8] {
        var writer = WireWriter()
        switch self {
        case .xLogData(let x):
            writer.writeUInt8(ID.xLogData.rawValue)
            writer.writeLSN(x.walStart)
            writer.writeLSN(x.walEnd)
            writer.writeTimestamp(x.serverTime)
            writer.writeBytes(payload)
        case .primaryKeepalive(let k):
            writer.writeUInt8(ID.primaryKeepalive.rawValue)
            writer.writeLSN(k.walEnd)
            writer.writeTimestamp(k.serverTime)
            writer.writeUInt8(k.replyRequested ? 1 : 0)
        }
        return writer.bytes
    }
}

/// The client's standby status update (`r`). Its flush LSN is what the slot may forget:
/// it must only ever cover changes that downstream has made durable.
public struct StandbyStatusUpdate: Sendable, Equatable {
    public static let id: UInt8 = 0x72  // r

    public var write: LSN
    public var flush: LSN
    public var apply: LSN
    public var clientTime: PostgresTimestamp
    public var replyRequested: Bool

    public init(write: LSN, flush: LSN, apply: LSN, clientTime: PostgresTimestamp, replyRequested: Bool = false) {
        self.write = write
        self.flush = flush
        self.apply = apply
        self.clientTime = clientTime
        self.replyRequested = replyRequested
    }

    public func encode() -> [UInt8] {
        var writer = WireWriter(capacity: 34)
        writer.writeUInt8(Self.id)
        writer.writeLSN(write)
        writer.writeLSN(flush)
        writer.writeLSN(apply)
        writer.writeTimestamp(clientTime)
        writer.writeUInt8(replyRequested ? 1 : 0)
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireDecodingError) -> StandbyStatusUpdate {
        var reader = WireReader(bytes, message: "standby status update")
        let type = try reader.readUInt8("type")
        if type != id { throw reader.error(.unknownMessageType, "type") }
        let update = StandbyStatusUpdate(
            write: try reader.readLSN("write"), flush: try reader.readLSN("flush"),
            apply: try reader.readLSN("apply"), clientTime: try reader.readTimestamp("clientTime"),
            replyRequested: try reader.readUInt8("replyRequested") != 0)
        try reader.finish()
        return update
    }
}
