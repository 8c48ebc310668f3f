/// Base64 (RFC 4648) on bytes: the standard alphabet with padding (bytea and message contents,
/// as Debezium writes bytes) and the URL alphabet without padding (privacy tokens). One encoder
/// for both; it writes into a caller's buffer, so neither path pays for Foundation's strings.
public enum Base64 {
    public enum Alphabet: Sendable {
        /// `+/`, padded with `=`.
        case standard
        /// `-_`, unpadded.
        case url

        fileprivate var table: [UInt8] {
            switch self {
            case .standard: Base64.standardTable
            case .url: Base64.urlTable
            }
        }

        fileprivate var padded: Bool { self == .standard }
    }

    private static let standardTable = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlTable = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let urlValues: [UInt8] = {
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in urlTable.enumerated() { values[Int(c)] = UInt8(i) }
        return values
    }()

    /// How many bytes the encoding of `count` bytes takes.
    public static func encodedCount(_ count: Int, alphabet: Alphabet) -> Int {
        alphabet.padded ? (count + 2) / 3 * 4 : (count * 4 + 2) / 3
    }

    /// Encodes `data` into `out` from `offset`; returns the offset after the last byte written.
    /// `out` must have ``encodedCount(_:alphabet:)`` bytes from `offset`.
    @discardableResult
    public static func encode<C: Collection<UInt8>>(_ data: C, alphabet: Alphabet, into out: UnsafeMutableBufferPointer<UInt8>,
                                                    at offset: Int) -> Int {
        let table = alphabet.table
        var o = offset
        var iterator = data.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = iterator.next()
            out[o] = table[Int(b0 >> 2)]
            out[o + 1] = table[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)]
            o += 2
            if let b1 {
                out[o] = table[Int((b1 & 0x0F) << 2 | (b2 ?? 0) >> 6)]
                o += 1
            } else if alphabet.padded {
                out[o] = UInt8(ascii: "=")
                o += 1
            }
            if let b2 {
                out[o] = table[Int(b2 & 0x3F)]
                o += 1
            } else if alphabet.padded {
                out[o] = UInt8(ascii: "=")
                o += 1
            }
        }
        return o
    }

    /// `prefix` followed by the URL encoding of `bytes`, as one string.
    public static func urlString(_ bytes: UnsafeRawBufferPointer, after prefix: String) -> String {
        var prefix = prefix
        return prefix.withUTF8 { head in
            String(unsafeUninitializedCapacity: head.count + encodedCount(bytes.count, alphabet: .url)) { out in
                _ = UnsafeMutableBufferPointer(rebasing: out[..<head.count]).initialize(from: head)
                return encode(bytes, alphabet: .url, into: out, at: head.count)
            }
        }
    }

    /// Decodes unpadded URL base64; nil when the text holds a character outside the alphabet,
    /// padding, or an impossible length.
    public static func decodeURL<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(chars.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in chars {
            let v = urlValues[Int(c)]
            guard v != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // The bits left over must be zero, or two texts would decode to the same bytes.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return bytes
    }
}
