extension PgOutputMessage {
    /// `D`: a removed row, identified by its key or (REPLICA IDENTITY FULL) its whole old image.
    public struct Delete: Sendable, Equatable {
        public var xid: UInt32?
        public var relationOID: UInt32
        public var old: OldTuple

        public init(xid: UInt32? = nil, relationOID: UInt32, old: OldTuple) {
            self.xid = xid
            self.relationOID = relationOID
            self.old = old
        }

        static func decode(from reader: inout WireReader, xid: UInt32?) throws(WireDecodingError) -> Self {
            let oid = try reader.readUInt32("relation OID")
            let marker = try reader.readUInt8("old tuple marker")
            let old: OldTuple
            switch marker {
            case OldTuple.keyMarker: old = .key(try .decode(from: &reader))
            case OldTuple.fullMarker: old = .full(try .decode(from: &reader))
            default: throw reader.error(.invalidValue, "old tuple marker")
            }
            return Self(xid: xid, relationOID: oid, old: old)
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt32(relationOID)
            old.encode(into: &writer)
        }
    }
}
