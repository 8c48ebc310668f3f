extension PgOutputMessage {
    /// `U`: a changed row. `old` is present when the key changed (DEFAULT or INDEX identity)
    /// or always under REPLICA IDENTITY FULL.
    public struct Update: Sendable, Equatable {
        public var xid: UInt32?
        public var relationOID: UInt32
        public var old: OldTuple?
        public var newTuple: TupleData

        public init(xid: UInt32? = nil, relationOID: UInt32, old: OldTuple?, newTuple: TupleData) {
            self.xid = xid
            self.relationOID = relationOID
            self.old = old
            self.newTuple = newTuple
        }

        static func decode(from reader: inout WireReader, xid: UInt32?) throws(WireDecodingError) -> Self {
            let oid = try reader.readUInt32("relation OID")
            var marker = try reader.readUInt8("tuple marker")
            var old: OldTuple?
            switch marker {
            case OldTuple.keyMarker:
                old = .key(try .decode(from: &reader))
                marker = try reader.readUInt8("new tuple marker")
            case OldTuple.fullMarker:
                old = .full(try .decode(from: &reader))
                marker = try reader.readUInt8("new tuple marker")
            default:
                break
            }
            if marker != OldTuple.newMarker { throw reader.error(.invalidValue, "new tuple marker") }
            return Self(xid: xid, relationOID: oid, old: old, newTuple: try .decode(from: &reader))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt32(relationOID)
            old?.encode(into: &writer)
            writer.writeUInt8(OldTuple.newMarker)
            newTuple.encode(into: &writer)
        }
    }
}
