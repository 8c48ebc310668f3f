extension PgOutputMessage {
    /// `R`: the shape of a table. Sent before the first change to it in a session, and again
    /// whenever it changes (for example after ALTER TABLE).
    public struct Relation: Sendable, Equatable {
        public enum ReplicaIdentity: UInt8, Sendable {
            case `default` = 0x64  // d
            case nothing = 0x6E  // n
            case full = 0x66  // f
            case index = 0x69  // i
        }

        public struct Column: Sendable, Equatable {
            /// Bit 1: the column is part of the replica identity key.
            public var flags: UInt8
            public var name: String
            public var typeOID: UInt32
            public var typeModifier: Int32

            public var isKey: Bool { flags & 1 != 0 }

            public init(flags: UInt8, name: String, typeOID: UInt32, typeModifier: Int32) {
                self.flags = flags
                self.name = name
                self.typeOID = typeOID
                self.typeModifier = typeModifier
            }
        }

        public var xid: UInt32?
        public var oid: UInt32
        public var namespace: String
        public var name: String
        public var replicaIdentity: ReplicaIdentity
        public var columns: [Column]

        public init(xid: UInt32? = nil, oid: UInt32, namespace: String, name: String,
                    replicaIdentity: ReplicaIdentity, columns: [Column]) {
            self.xid = xid
            self.oid = oid
            self.namespace = namespace
            self.name = name
            self.replicaIdentity = replicaIdentity
            self.columns = columns
        }

        static func decode(from reader: inout WireReader, xid: UInt32?) throws(WireDecodingError) -> Self {
            let oid = try reader.readUInt32("relation OID")
            let namespace = try reader.readCString("namespace")
            let name = try reader.readCString("relation name")
            let identityByte = try reader.readUInt8("replica identity")
            guard let identity = ReplicaIdentity(rawValue: identityByte) else {
                throw reader.error(.invalidValue, "replica identity")
            }
            let count = try reader.readInt16("column count")
            if count < 0 { throw reader.error(.invalidValue, "column count") }
            var columns: [Column] = []
            columns.reserveCapacity(Int(count))
            for index in 0..<Int(count) {
                columns.append(Column(
                    flags: try reader.readUInt8("column \(index) flags"),
                    name: try reader.readCString("column \(index) name"),
                    typeOID: try reader.readUInt32("column \(index) type OID"),
                    typeModifier: try reader.readInt32("column \(index) type modifier")))
            }
            return Self(xid: xid, oid: oid, namespace: namespace, name: name, replicaIdentity: identity, columns: columns)
        }

        func encode(into writer: inout WireWriter) {
            writer.writeUInt32(oid)
            writer.writeCString(namespace)
            writer.writeCString(name)
            writer.writeUInt8(replicaIdentity.rawValue)
            writer.writeInt16(Int16(columns.count))
            for column in columns {
                writer.writeUInt8(column.flags)
                writer.writeCString(column.name)
                writer.writeUInt32(column.typeOID)
                writer.writeInt32(column.typeModifier)
            }
        }
    }
}
