extension PgOutputMessage {
    /// `K`: a prepared transaction committed (protocol 3).
    public struct CommitPrepared: Sendable, Equatable {
        public var flags: UInt8
        public var commitLSN: LSN
        public var endLSN: LSN
        public var commitTime: PostgresTimestamp
        public var xid: UInt32
        public var gid: String

        public init(flags: UInt8 = 0, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp,
                    xid: UInt32, gid: String) {
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTime = commitTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout WireReader) throws(WireDecodingError) -> Self {
            Self(flags: try reader.readUInt8("flags"), commitLSN: try reader.readLSN("commit LSN"),
                 endLSN: try reader.readLSN("end LSN"), commitTime: try reader.readTimestamp("commit time"),
                 xid: try reader.readUInt32("xid"), gid: try reader.readCString("gid"))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt8(flags)
            writer.writeLSN(commitLSN)
            writer.writeLSN(endLSN)
            writer.writeTimestamp(commitTime)
            writer.writeUInt32(xid)
            writer.writeCString(gid)
        }
    }
}
