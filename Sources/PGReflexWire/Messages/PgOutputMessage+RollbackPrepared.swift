extension PgOutputMessage {
    /// `r`: a prepared transaction was rolled back (protocol 3).
    public struct RollbackPrepared: Sendable, Equatable {
        public var flags: UInt8
        public var prepareEndLSN: LSN
        public var rollbackEndLSN: LSN
        public var prepareTime: PostgresTimestamp
        public var rollbackTime: PostgresTimestamp
        public var xid: UInt32
        public var gid: String

        public init(flags: UInt8 = 0, prepareEndLSN: LSN, rollbackEndLSN: LSN, prepareTime: PostgresTimestamp,
                    rollbackTime: PostgresTimestamp, xid: UInt32, gid: String) {
            self.flags = flags
            self.prepareEndLSN = prepareEndLSN
            self.rollbackEndLSN = rollbackEndLSN
            self.prepareTime = prepareTime
            self.rollbackTime = rollbackTime
            self.xid = xid
            self.gid = gid
        }

        static func decode(from reader: inout WireReader) throws(WireDecodingError) -> Self {
            Self(flags: try reader.readUInt8("flags"), prepareEndLSN: try reader.readLSN("prepare end LSN"),
                 rollbackEndLSN: try reader.readLSN("rollback end LSN"),
                 prepareTime: try reader.readTimestamp("prepare time"),
                 rollbackTime: try reader.readTimestamp("rollback time"),
                 xid: try reader.readUInt32("xid"), gid: try reader.readCString("gid"))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt8(flags)
            writer.writeLSN(prepareEndLSN)
            writer.writeLSN(rollbackEndLSN)
            writer.writeTimestamp(prepareTime)
            writer.writeTimestamp(rollbackTime)
            writer.writeUInt32(xid)
            writer.writeCString(gid)
        }
    }
}
