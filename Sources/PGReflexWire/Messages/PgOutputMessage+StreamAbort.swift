extension PgOutputMessage {
    /// `A`: a streamed (sub)transaction aborted; its buffered changes are discarded.
    /// When `subxid == xid` the whole transaction aborted.
    public struct StreamAbort: Sendable, Equatable {
        public var xid: UInt32
        public var subxid: UInt32
        /// Protocol 4 with `streaming = parallel` only.
        public var abortLSN: LSN?
        /// Protocol 4 with `streaming = parallel` only.
        public var abortTime: PostgresTimestamp?

        public init(xid: UInt32, subxid: UInt32, abortLSN: LSN? = nil, abortTime: PostgresTimestamp? = nil) {
            self.xid = xid
            self.subxid = subxid
            self.abortLSN = abortLSN
            self.abortTime = abortTime
        }

        static func decode(from reader: inout WireReader, parallel: Bool) throws(WireDecodingError) -> Self {
            var abort = Self(xid: try reader.readUInt32("xid"), subxid: try reader.readUInt32("subxid"))
            if parallel {
                abort.abortLSN = try reader.readLSN("abort LSN")
                abort.abortTime = try reader.readTimestamp("abort time")
            }
            return abort
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt32(xid)
            writer.writeUInt32(subxid)
            if let abortLSN, let abortTime {
                writer.writeLSN(abortLSN)
                writer.writeTimestamp(abortTime)
            }
        }
    }
}
