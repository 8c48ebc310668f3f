extension PgOutputMessage {
    /// `C`: the end of a (non-streamed) transaction.
    public struct Commit: Sendable, Equatable {
        /// Unused by the server so far; kept so that a message re-encodes to the same bytes.
        public var flags: UInt8
        /// The LSN of the commit record.
        public var commitLSN: LSN
        /// The end of the commit record: confirming it tells the slot this transaction is done.
        public var endLSN: LSN
        public var commitTime: PostgresTimestamp

        public init(flags: UInt8 = 0, commitLSN: LSN, endLSN: LSN, commitTime: PostgresTimestamp) {
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTime = commitTime
        }

        static func decode(from reader: inout WireReader) throws(WireDecodingError) -> Self {
            Self(flags: try reader.readUInt8("flags"), commitLSN: try reader.readLSN("commit LSN"),
                 endLSN: try reader.readLSN("end LSN"), commitTime: try reader.readTimestamp("commit time"))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt8(flags)
            writer.writeLSN(commitLSN)
            writer.writeLSN(endLSN)
            writer.writeTimestamp(commitTime)
        }
    }
}
