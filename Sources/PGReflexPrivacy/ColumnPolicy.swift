/// What happens to a protected column's values before anything leaves the decoder.
public enum ColumnPolicy: Sendable, Equatable {
    /// `hash:<key id>:<base64url HMAC-SHA256>`: a deterministic pseudonym; joins still work,
    /// nothing reverses it.
    case hash
    /// `tok:<key id>:<base64url>`: deterministic AES-GCM-SIV with a nonce derived from the
    /// value. Equal values give equal tokens; `pgreflex detokenize` reverses it with the key.
    case tokenize
    /// Keeps part of the value and replaces the rest with `*`.
    case mask(MaskRule)
    /// A fixed placeholder.
    case redact(placeholder: String)
    /// The column is left out of the event.
    case drop

    public static let defaultPlaceholder = "[redacted]"
}

/// Which part of a value a mask keeps. Characters (not bytes) are counted; the masked part
/// keeps its length.
public struct MaskRule: Sendable, Equatable {
    public var keepFirst: Int
    public var keepLast: Int
    /// For an email address: keep `@domain`, mask the local part (the `keep` counts then apply to it).
    public var keepEmailDomain: Bool

    public init(keepFirst: Int = 0, keepLast: Int = 0, keepEmailDomain: Bool = false) {
        self.keepFirst = keepFirst
        self.keepLast = keepLast
        self.keepEmailDomain = keepEmailDomain
    }

    /// The masked form of a value's UTF-8 text. ASCII text (most keys, phones and emails) is
    /// masked byte by byte; other text by Characters (where CR LF, too, is one).
    public func apply(_ value: UnsafeBufferPointer<UInt8>) -> String {
        guard value.allSatisfy({ $0 < 0x80 && $0 != UInt8(ascii: "\r") }) else { return apply(String(decoding: value, as: UTF8.self)) }
        var end = value.count
        if keepEmailDomain, let at = value.lastIndex(of: UInt8(ascii: "@")) { end = at }
        let first = min(keepFirst, end)
        let last = min(keepLast, end - first)
        return String(unsafeUninitializedCapacity: value.count) { out in
            _ = out.initialize(fromContentsOf: value)
            for i in first..<(end - last) { out[i] = UInt8(ascii: "*") }
            return value.count
        }
    }

    public func apply(_ value: String) -> String {
        var head = Substring(value)
        var domain: Substring = ""
        if keepEmailDomain, let at = value.lastIndex(of: "@") {
            head = value[..<at]
            domain = value[at...]
        }
        let characters = Array(head)
        let first = min(keepFirst, characters.count)
        let last = min(keepLast, characters.count - first)
        let masked = characters.count - first - last
        return String(characters[..<first]) + String(repeating: "*", count: masked)
            + String(characters[(characters.count - last)...]) + domain
    }
}
