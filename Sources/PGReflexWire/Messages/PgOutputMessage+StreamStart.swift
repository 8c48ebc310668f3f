extension PgOutputMessage {
    /// `S`: a block of an in-progress transaction's changes follows (protocol 2).
    public struct StreamStart: Sendable, Equatable {
        public var xid: UInt32
        /// Whether this is the transaction's first block.
        public var firstSegment: Bool

        public init(xid: UInt32, firstSegment: Bool) {
            self.xid = xid
            self.firstSegment = firstSegment
        }

        static func decode(from reader: inout WireReader) throws(WireDecodingError) -> Self {
            let xid = try reader.readUInt32("xid")
            let first = try reader.readUInt8("first segment")
            if first > 1 { throw reader.error(.invalidValue, "first segment") }
            return Self(xid: xid, firstSegment: first == 1)
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt32(xid)
            writer.writeUInt8(firstSegment ? 1 : 0)
        }
    }
}
