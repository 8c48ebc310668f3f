extension PgOutputMessage {
    /// `P` (and `p`, Stream Prepare): a transaction was prepared for two-phase commit (protocol 3).
    public struct Prepare: Sendable, Equatable {
        public var flags: UInt8
        public var prepareLSN: LSN
        public var endLSN: LSN
        public var prepareTime: PostgresTimestamp
        public var xid: UInt32
        public var gid: String

        public init(flags: UInt8 = 0, prepareLSN: LSN, endLSN: LSN, prepareTime: PostgresTimestamp,
                    xid: UInt32, gid: String) {
            self.flags = flags
            self.prepareLSN = prepareLSN
            self.endLSN = endLSN
            self.prepareTime = prepareTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout WireReader) throws(WireDecodingError) -> Self {
            Self(flags: try reader.readUInt8("flags"), prepareLSN: try reader.readLSN("prepare LSN"),
                 endLSN: try reader.readLSN("end LSN"), prepareTime: try reader.readTimestamp("prepare time"),
                 xid: try reader.readUInt32("xid"), gid: try reader.readCString("gid"))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt8(flags)
            writer.writeLSN(prepareLSN)
            writer.writeLSN(endLSN)
            writer.writeTimestamp(prepareTime)
            writer.writeUInt32(xid)
            writer.writeCString(gid)
        }
    }
}
