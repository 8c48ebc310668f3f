extension PgOutputMessage {
    /// `I`: a new row.
    public struct Insert: Sendable, Equatable {
        public var xid: UInt32?
        public var relationOID: UInt32
        public var newTuple: TupleData

        public init(xid: UInt32? = nil, relationOID: UInt32, newTuple: TupleData) {
            self.xid = xid
            self.relationOID = relationOID
            self.newTuple = newTuple
        }

        static func decode(from reader: inout WireReader, xid: UInt32?) throws(WireDecodingError) -> Self {
            let oid = try reader.readUInt32("relation OID")
            let marker = try reader.readUInt8("new tuple marker")
            if marker != OldTuple.newMarker { throw reader.error(.invalidValue, "new tuple marker") }
            return Self(xid: xid, relationOID: oid, newTuple: try .decode(from: &reader))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt32(relationOID)
            writer.writeUInt8(OldTuple.newMarker)
            newTuple.encode(into: &writer)
        }
    }

    /// The old row image of an Update or Delete, as the table's replica identity allows.
    public enum OldTuple: Sendable, Equatable {
        /// `K`: only the replica identity key columns; the others are null.
        case key(TupleData)
        /// `O`: the whole old row (REPLICA IDENTITY FULL).
        case full(TupleData)

        static let keyMarker: UInt8 = 0x4B  // K
        static let fullMarker: UInt8 = 0x4F  // O
        static let newMarker: UInt8 = 0x4E  // N

        public var tuple: TupleData {
            switch self {
            case .key(let t), .full(let t): t
            }
        }

        func encode(into writer: inout WireWriter) {
            switch self {
            case .key(let t):
                writer.writeUInt8(Self.keyMarker)
                t.encode(into: &writer)
            case .full(let t):
                writer.writeUInt8(Self.fullMarker)
                t.encode(into: &writer)
            }
        }
    }
}
