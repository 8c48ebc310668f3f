extension PgOutputMessage {
    /// `Y`: the name of a non-built-in type a following Relation refers to.
    public struct TypeMessage: Sendable, Equatable {
        public var xid: UInt32?
        public var oid: UInt32
        public var namespace: String
        public var name: String

        public init(xid: UInt32? = nil, oid: UInt32, namespace: String, name: String) {
            self.xid = xid
            self.oid = oid
            self.namespace = namespace
            self.name = name
        }

        static func decode(from reader: inout WireReader, xid: UInt32?) throws(WireDecodingError) -> Self {
            Self(xid: xid, oid: try reader.readUInt32("type OID"), namespace: try reader.readCString("namespace"),
                 name: try reader.readCString("type name"))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt32(oid)
            writer.writeCString(namespace)
            writer.writeCString(name)
        }
    }
}
