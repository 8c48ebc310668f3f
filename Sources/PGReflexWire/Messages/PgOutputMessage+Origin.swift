extension PgOutputMessage {
    /// `O`: the transaction was replicated from another node with this origin.
    public struct Origin: Sendable, Equatable {
        public var commitLSN: LSN
        public var name: String

        public init(commitLSN: LSN, name: String) {
            self.commitLSN = commitLSN
            self.name = name
        }

        static func decode(from reader: inout WireReader) throws(WireDecodingError) -> Self {
            Self(commitLSN: try reader.readLSN("origin commit LSN"), name: try reader.readCString("origin name"))
        }

        func encode(into writer: inout WireWriter) {
            writer.writeLSN(commitLSN)
            writer.writeCString(name)
        }
    }
}
