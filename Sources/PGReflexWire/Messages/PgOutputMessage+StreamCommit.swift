extension PgOutputMessage {
    /// `c`: a streamed transaction committed; its buffered blocks take effect (protocol 2).
    public struct StreamCommit: Sendable, Equatable {
        public var xid: UInt32
        public var flags: UInt8
        public var commitLSN: LSN
        public var endLSN: LSN
        public var commitTime: PostgresTimestamp

        public init(xid: UInt32, flags: UInt8 = 0, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp) {
            self.xid = xid
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTime = commitTime
        }

        static func decode(from reader: inout WireReader) throws(WireDecodingError) -> Self {
            Self(xid: try reader.readUInt32("xid"), flags: try reader.readUInt8("flags"),
                 commitLSN: try reader.readLSN("commit LSN"), endLSN: try reader.readLSN("end LSN"),
                 commitTime: try reader.readTimestamp("commit time"))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt32(xid)
            writer.writeUInt8(flags)
            writer.writeLSN(commitLSN)
            writer.writeLSN(endLSN)
            writer.writeTimestamp(commitTime)
        }
    }
}
