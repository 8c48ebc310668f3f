/// A message on the wire was not what the protocol allows.
///
/// It carries the byte offset and the message kind, so that a failure can be reproduced
/// from the bytes alone. The description never includes the payload itself: payloads hold
/// row data, which may be personal data.
public struct WireDecodingError: Error, Hashable, Sendable {
    public enum Code: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// The message ended before a field it must contain.
        case shortMessage = "short message"
        /// Bytes remained after the last field of the message.
        case trailingBytes = "trailing bytes"
        /// The first byte names no message this protocol version defines.
        case unknownMessageType = "unknown message type"
        /// A field holds a value the protocol does not allow (a negative length, an unknown tuple kind).
        case invalidValue = "invalid value"
        /// A string is not NUL-terminated or is not valid UTF-8.
        case invalidString = "invalid string"
        /// The message has no bytes at all.
        case emptyMessage = "empty message"

        public var description: String { rawValue }
    }

    public var code: Code
    /// The message kind being decoded, for example `pgoutput Insert` or `XLogData`.
    public var message: String
    /// The field being read when decoding failed, for example `TupleData column 3 length`.
    public var field: String
    /// Offset from the first byte of the message.
    public var offset: Int

    public init(code: Code, message: String, field: String, offset: Int) {
        self.code = code
        self.message = message
        self.field = field
        self.offset = offset
    }
}

extension WireDecodingError: CustomStringConvertible {
    /// Never: the same bytes decode the same way again. The fix is a newer pgreflex, or another
    /// protocol version.
    public var isRetryable: Bool { false }

    public var description: String {
        "cannot decode \(message): \(code) at byte \(offset) (\(field)). "
            + "The server sent bytes this version of pgreflex does not understand; "
            + "check the protocol version you asked for and report the slot's LSN with this error."
    }
}
