extension PgOutputMessage {
    /// `B`: the start of a (non-streamed) transaction.
    public struct Begin: Sendable, Equatable {
        /// The LSN of the transaction's commit record.
        public var finalLSN: LSN
        public var commitTime: PostgresTimestamp
        public var xid: UInt32

        public init(finalLSN: LSN, commitTime: PostgresTimestamp, xid: UInt32) {
            self.finalLSN = finalLSN
            self.commitTime = commitTime
            self.xid = xid
        }

        static func decode(from reader: inout WireReader) throws(WireDecodingError) -> Self {
            Self(finalLSN: try reader.readLSN("final LSN"), commitTime: try reader.readTimestamp("commit time"),
                 xid: try reader.readUInt32("xid"))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeLSN(finalLSN)
            writer.writeTimestamp(commitTime)
            writer.writeUInt32(xid)
        }
    }
}
