import PGReflexWire

/// Appends JSON to a byte buffer by hand. Foundation's encoders cost more per change than
/// pgreflex's whole per-change budget; this writes straight from the row's bytes.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    public mutating func raw(_ byte: UInt8) {
        bytes.append(byte)
    }

    @inline(__always)
    public mutating func raw(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func raw<C: Collection<UInt8>>(_ other: C) {
        bytes.append(contentsOf: other)
    }

    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { string(utf8: $0) }
    }

    /// A JSON string from UTF-8 bytes, escaping quotes, backslashes and control characters.
    public mutating func string(utf8 source: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        let count = source.count
        while index < count {
            let byte = source[index]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                index += 1
                continue
            }
            if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart..<index])) }
            escape(byte)
            index += 1
            runStart = index
        }
        if runStart < count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart..<count])) }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ byte: UInt8) {
        bytes.append(UInt8(ascii: "\\"))
        switch byte {
        case 0x22: bytes.append(0x22)
        case 0x5C: bytes.append(0x5C)
        case 0x0A: bytes.append(UInt8(ascii: "n"))
        case 0x0D: bytes.append(UInt8(ascii: "r"))
        case 0x09: bytes.append(UInt8(ascii: "t"))
        case 0x08: bytes.append(UInt8(ascii: "b"))
        case 0x0C: bytes.append(UInt8(ascii: "f"))
        default:
            let hex: StaticString = "0123456789abcdef"
            bytes.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30])
            hex.withUTF8Buffer { h in
                bytes.append(h[Int(byte >> 4)])
                bytes.append(h[Int(byte & 0xF)])
            }
        }
    }

    public mutating func integer<T: BinaryInteger>(_ value: T) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            unsigned(UInt64(value.magnitude))
        } else {
            unsigned(UInt64(value))
        }
    }

    /// Decimal digits of `value`, formatted on the stack and appended once.
    public mutating func unsigned(_ value: UInt64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var v = value
            var i = 20
            repeat {
                i -= 1
                digits[i] = UInt8(truncatingIfNeeded: v % 10) &+ 48
                v /= 10
            } while v > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i..<20]))
        }
    }

    public mutating func bool(_ value: Bool) {
        value ? raw("true") : raw("false")
    }

    public mutating func null() {
        raw("null")
    }

    /// Standard base64 with padding, quoted.
    public mutating func base64String<C: Collection<UInt8>>(_ data: C) {
        bytes.append(UInt8(ascii: "\""))
        let start = bytes.count
        let count = Base64.encodedCount(data.count, alphabet: .standard)
        bytes.append(contentsOf: repeatElement(0, count: count))
        bytes.withUnsafeMutableBufferPointer { out in
            _ = Base64.encode(data, alphabet: .standard, into: out, at: start)
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
