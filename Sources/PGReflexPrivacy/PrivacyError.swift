/// A privacy problem: a bad key, a bad token, a bad rule. Never carries a protected value.
public struct PrivacyError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// A key is missing, malformed or too short.
        case badKey = "privacy_bad_key"
        /// A token names a key id the keyring does not hold.
        case unknownKey = "privacy_unknown_key"
        /// Not a pgreflex token, or it does not decrypt under its key.
        case badToken = "privacy_bad_token"
        /// A hash cannot be reversed.
        case notReversible = "privacy_not_reversible"

        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// Never: a bad key or token stays bad until someone fixes it.
    public var isRetryable: Bool { false }

    public var description: String { "\(code): \(message)" }
}
