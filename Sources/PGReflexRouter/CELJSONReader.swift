/// JSON (RFC 8259) read straight into ``CELValue``s: one pass over the bytes, no intermediate
/// tree, no error thrown and caught per value. Strict: anything but one JSON value (and
/// whitespace) is an error, as are invalid UTF-8, unescaped control characters, lone surrogates,
/// numbers out of a double's range, and nesting deeper than ``maximumDepth``. Linear in the input.
enum CELJSONReader {
    /// Deeper nesting is refused: a hostile row cannot exhaust the stack.
    static let maximumDepth = 512

    static func value(of bytes: some Collection<UInt8>) throws(CELJSONError) -> CELValue {
        let buffer = Array(bytes)
        var reader = Cursor(bytes: buffer)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.offset == buffer.count else { throw reader.error("trailing characters after the JSON value") }
        return value
    }

    struct Cursor {
        let bytes: [UInt8]
        var offset = 0

        func error(_ message: String) -> CELJSONError { CELJSONError(offset: offset, message: message) }

        var peek: UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func skipWhitespace() {
            while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
        }

        mutating func value(depth: Int) throws(CELJSONError) -> CELValue {
            guard depth < CELJSONReader.maximumDepth else { throw error("nested deeper than \(CELJSONReader.maximumDepth) levels") }
            switch peek {
            case UInt8(ascii: "{")?: return try object(depth: depth)
            case UInt8(ascii: "[")?: return try array(depth: depth)
            case UInt8(ascii: "\"")?: return .string(try string())
            case UInt8(ascii: "t")?: return try literal("true", .bool(true))
            case UInt8(ascii: "f")?: return try literal("false", .bool(false))
            case UInt8(ascii: "n")?: return try literal("null", .null)
            case let byte? where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte): return try number()
            case nil: throw error("the JSON ends where a value should be")
            default: throw error("a value cannot start here")
            }
        }

        mutating func literal(_ text: StaticString, _ value: CELValue) throws(CELJSONError) -> CELValue {
            let count = text.utf8CodeUnitCount
            guard bytes.count - offset >= count else { throw error("a value cannot start here") }
            for i in 0..<count where bytes[offset + i] != text.utf8Start[i] { throw error("a value cannot start here") }
            offset += count
            return value
        }

        mutating func object(depth: Int) throws(CELJSONError) -> CELValue {
            offset += 1
            var fields: [String: CELValue] = [:]
            skipWhitespace()
            if peek == UInt8(ascii: "}") {
                offset += 1
                return .map(fields)
            }
            while true {
                guard peek == UInt8(ascii: "\"") else { throw error("an object's key must be a string") }
                let key = try string()
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw error("expected ':' after an object's key") }
                offset += 1
                skipWhitespace()
                fields[key] = try value(depth: depth + 1)
                skipWhitespace()
                switch peek {
                case UInt8(ascii: ",")?:
                    offset += 1
                    skipWhitespace()
                case UInt8(ascii: "}")?:
                    offset += 1
                    return .map(fields)
                default: throw error("expected ',' or '}' in an object")
                }
            }
        }

        mutating func array(depth: Int) throws(CELJSONError) -> CELValue {
            offset += 1
            var items: [CELValue] = []
            skipWhitespace()
            if peek == UInt8(ascii: "]") {
                offset += 1
                return .list(items)
            }
            while true {
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                switch peek {
                case UInt8(ascii: ",")?:
                    offset += 1
                    skipWhitespace()
                case UInt8(ascii: "]")?:
                    offset += 1
                    return .list(items)
                default: throw error("expected ',' or ']' in an array")
                }
            }
        }

        mutating func string() throws(CELJSONError) -> String {
            offset += 1
            let start = offset
            // The common case: no escape. The bytes are checked as UTF-8 once, at the end.
            while let byte = peek, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                guard byte >= 0x20 else { throw error("a control character in a string must be escaped") }
                offset += 1
            }
            guard let stop = peek else { throw error("a string is not closed") }
            if stop == UInt8(ascii: "\"") {
                offset += 1
                return try text(bytes[start..<(offset - 1)], from: start)
            }
            var scratch = Array(bytes[start..<offset])
            while true {
                guard let byte = peek else { throw error("a string is not closed") }
                offset += 1
                switch byte {
                case UInt8(ascii: "\""): return try text(scratch[...], from: start)
                case UInt8(ascii: "\\"): try escape(into: &scratch)
                case ..<0x20: throw error("a control character in a string must be escaped")
                default: scratch.append(byte)
                }
            }
        }

        func text(_ utf8: ArraySlice<UInt8>, from start: Int) throws(CELJSONError) -> String {
            guard let text = String(validating: utf8, as: UTF8.self) else {
                throw CELJSONError(offset: start, message: "a string is not valid UTF-8")
            }
            return text
        }

        mutating func escape(into scratch: inout [UInt8]) throws(CELJSONError) {
            guard let byte = peek else { throw error("a string is not closed") }
            offset += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(byte)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(try hex4())
                if (0xD800...0xDBFF).contains(scalar) {
                    guard bytes.count - offset >= 2, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                        throw error("a lone surrogate in a string")
                    }
                    offset += 2
                    let low = UInt32(try hex4())
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("a lone surrogate in a string") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("a lone surrogate in a string")
                }
                scratch.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default: throw error("an unknown escape in a string")
            }
        }

        mutating func hex4() throws(CELJSONError) -> UInt16 {
            guard bytes.count - offset >= 4 else { throw error("\\u needs four hex digits") }
            var value: UInt16 = 0
            for _ in 0..<4 {
                let byte = bytes[offset]
                let digit: UInt8
                switch byte {
                case 0x30...0x39: digit = byte - 0x30
                case 0x41...0x46: digit = byte - 0x41 + 10
                case 0x61...0x66: digit = byte - 0x61 + 10
                default: throw error("\\u needs four hex digits")
                }
                value = value << 4 | UInt16(digit)
                offset += 1
            }
            return value
        }

        mutating func number() throws(CELJSONError) -> CELValue {
            let start = offset
            var integral = true
            if peek == UInt8(ascii: "-") { offset += 1 }
            guard let first = peek, (0x30...0x39).contains(first) else { throw error("a number needs a digit") }
            offset += 1
            if first != 0x30 { skipDigits() }
            if peek == UInt8(ascii: ".") {
                integral = false
                offset += 1
                guard let digit = peek, (0x30...0x39).contains(digit) else { throw error("a number's fraction needs a digit") }
                skipDigits()
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                integral = false
                offset += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { offset += 1 }
                guard let digit = peek, (0x30...0x39).contains(digit) else { throw error("a number's exponent needs a digit") }
                skipDigits()
            }
            let text = String(decoding: bytes[start..<offset], as: UTF8.self)
            if integral, let int = Int64(text) { return .int(int) }
            guard let double = Double(text), double.isFinite else {
                throw CELJSONError(offset: start, message: "a number out of a double's range")
            }
            // A whole value in range is an int however it is written (`1e3`, `2.50e1`, `1.0`),
            // as Foundation's decoder reads it.
            if let int = Int64(exactly: double) { return .int(int) }
            return .double(double)
        }

        mutating func skipDigits() {
            while let byte = peek, (0x30...0x39).contains(byte) { offset += 1 }
        }
    }
}

/// JSON that ``CELJSONReader`` refuses: where, and what is wrong.
public struct CELJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset in the input.
    public var offset: Int
    public var message: String

    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}
