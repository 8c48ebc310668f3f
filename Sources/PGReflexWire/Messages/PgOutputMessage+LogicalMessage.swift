extension PgOutputMessage {
    /// `M`: a message written with `pg_logical_emit_message` (sent with `messages 'true'`).
    public struct LogicalMessage: Sendable, Equatable {
        public var xid: UInt32?
        /// Bit 1: transactional (delivered with its transaction's commit).
        public var flags: UInt8
        public var lsn: LSN
        public var prefix: String
        public var content: ByteView

        public var isTransactional: Bool { flags & 1 != 0 }

        public init(xid: UInt32? = nil, flags: UInt8, lsn: LSN, prefix: String, content: ByteView) {
            self.xid = xid
            self.flags = flags
            self.lsn = lsn
            self.prefix = prefix
            self.content = content
        }

        static func decode(from reader: inout WireReader, xid: UInt32?) throws(WireDecodingError) -> Self {
            let flags = try reader.readUInt8("flags")
            let lsn = try reader.readLSN("message LSN")
            let prefix = try reader.readCString("prefix")
            let content = try reader.readLengthPrefixedBytes("content")
            return Self(xid: xid, flags: flags, lsn: lsn, prefix: prefix,
                        content: ByteView(storage: reader.storage, range: content))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt8(flags)
            writer.writeLSN(lsn)
            writer.writeCString(prefix)
            writer.writeLengthPrefixed(content.bytes)
        }
    }
}
