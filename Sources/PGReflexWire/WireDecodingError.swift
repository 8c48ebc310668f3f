/// A message on the wire was not what the protocol allows.
///
/// It carries the byte offset and the message kind, so that a failure can be reproduced
/// from the bytes alone. The description never includes the payload itself: payloads hold
/// row data, which may be personal data.
public struct WireDecodingError: Error, Hashable, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case shortMessage, trailingBytes, unknownMessageType, invalidValue, invalidString, emptyMessage
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The message ended before a field it must contain.
        public static let shortMessage = Self(.shortMessage)
        /// Bytes remained after the last field of the message.
        public static let trailingBytes = Self(.trailingBytes)
        /// The first byte names no message this protocol version defines.
        public static let unknownMessageType = Self(.unknownMessageType)
        /// A field holds a value the protocol does not allow (a negative length, an unknown tuple kind).
        public static let invalidValue = Self(.invalidValue)
        /// A string is not NUL-terminated or is not valid UTF-8.
        public static let invalidString = Self(.invalidString)
        /// The message has no bytes at all.
        public static let emptyMessage = Self(.emptyMessage)

        public var description: String {
            switch base {
            case .shortMessage: "short message"
            case .trailingBytes: "trailing bytes"
            case .unknownMessageType: "unknown message type"
            case .invalidValue: "invalid value"
            case .invalidString: "invalid string"
            case .emptyMessage: "empty message"
            }
        }
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
    public var description: String {
        "cannot decode \(message): \(code) at byte \(offset) (\(field)). "
            + "The server sent bytes this version of pgreflex does not understand; "
            + "check the protocol version you asked for and report the slot's LSN with this error."
    }
}
