extension PgOutputMessage {
    /// `T`: TRUNCATE of one or more tables in one statement.
    public struct Truncate: Sendable, Equatable {
        public struct Options: OptionSet, Sendable, Equatable {
            public var rawValue: UInt8
            public init(rawValue: UInt8) { self.rawValue = rawValue }
            public static let cascade = Options(rawValue: 1)
            public static let restartIdentity = Options(rawValue: 2)
        }

        public var xid: UInt32?
        public var options: Options
        public var relationOIDs: [UInt32]

        public init(xid: UInt32? = nil, options: Options, relationOIDs: [UInt32]) {
            self.xid = xid
            self.options = options
            self.relationOIDs = relationOIDs
        }

        static func decode(from reader: inout WireReader, xid: UInt32?) throws(WireDecodingError) -> Self {
            let count = try reader.readInt32("relation count")
            if count < 0 { throw reader.error(.invalidValue, "relation count") }
            let options = Options(rawValue: try reader.readUInt8("options"))
            // Each OID takes 4 bytes: check before reserving, so a forged count cannot allocate.
            if reader.remaining < Int(count) * 4 { throw reader.error(.shortMessage, "relation OIDs") }
            var oids: [UInt32] = []
            oids.reserveCapacity(Int(count))
            for index in 0..<Int(count) { oids.append(try reader.readUInt32("relation \(index) OID")) }
            return Self(xid: xid, options: options, relationOIDs: oids)
        }

        func encode(into writer: inout WireWriter) {
            writer.writeInt32(Int32(relationOIDs.count))
            writer.writeUInt8(options.rawValue)
            for oid in relationOIDs { writer.writeUInt32(oid) }
        }
    }
}
