/// A privacy problem: a bad key, a bad token, a bad rule. Never carries a protected value.
public struct PrivacyError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A key is missing, malformed or too short.
        public static let badKey = Code("privacy_bad_key")
        /// A token names a key id the keyring does not hold.
        public static let unknownKey = Code("privacy_unknown_key")
        /// Not a pgreflex token, or it does not decrypt under its key.
        public static let badToken = Code("privacy_bad_token")
        /// A hash cannot be reversed.
        public static let notReversible = Code("privacy_not_reversible")
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
