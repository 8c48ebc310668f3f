/// Decodes a session's pgoutput messages in order. It keeps the one piece of state the
/// format needs: whether a Stream Start/Stop block is open, because inside one the change
/// messages carry an xid prefix.
public struct PgOutputDecoder: Sendable {
    public let protocolVersion: Int
    public let parallelStreaming: Bool
    /// The top-level transaction whose stream block is open, if any.
    public private(set) var openStreamXid: UInt32?

    public init(protocolVersion: Int, parallelStreaming: Bool = false) {
        precondition((1...4).contains(protocolVersion), "pgoutput defines protocol versions 1 to 4")
        self.protocolVersion = protocolVersion
        self.parallelStreaming = parallelStreaming
    }

    public mutating func decode(storage: [UInt8], range: Range<Int>) throws(WireDecodingError) -> PgOutputMessage {
        let message = try PgOutputMessage.decode(
            storage: storage, range: range, protocolVersion: protocolVersion,
            streamed: openStreamXid != nil, parallelStreaming: parallelStreaming)
        switch message {
        case .streamStart(let start):
            if openStreamXid != nil {
                throw WireDecodingError(code: .invalidValue, message: "pgoutput Stream Start",
                                        field: "stream block already open", offset: 0)
            }
            openStreamXid = start.xid
        case .streamStop:
            if openStreamXid == nil {
                throw WireDecodingError(code: .invalidValue, message: "pgoutput Stream Stop",
                                        field: "no stream block open", offset: 0)
            }
            openStreamXid = nil
        default:
            break
        }
        return message
    }

    public mutating func decode(_ bytes: [UInt8]) throws(WireDecodingError) -> PgOutputMessage {
        try decode(storage: bytes, range: 0..<bytes.count)
    }
}
