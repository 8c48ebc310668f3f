/// Protobuf text format, as far as the CEL conformance files use it: fields `name: scalar`,
/// `name { message }` and `name: { message }`, `#` comments, and strings with C escapes
/// (octal and `\x` bytes). Enough to read `cel.expr.conformance.test.SimpleTestFile`.
indirect enum TextProto: Equatable {
    case scalar(String)
    case string([UInt8])
    case message([(String, TextProto)])

    static func == (a: TextProto, b: TextProto) -> Bool {
        switch (a, b) {
        case (.scalar(let x), .scalar(let y)): x == y
        case (.string(let x), .string(let y)): x == y
        case (.message(let x), .message(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    /// Every value of a repeated or single field.
    func all(_ name: String) -> [TextProto] {
        guard case .message(let fields) = self else { return [] }
        return fields.filter { $0.0 == name }.map(\.1)
    }

    subscript(_ name: String) -> TextProto? { all(name).first }

    var text: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .scalar(let s): s
        default: nil
        }
    }

    static func parse(_ source: String) throws -> TextProto {
        var reader = Reader(bytes: Array(source.utf8))
        let fields = try reader.fields(until: nil)
        return .message(fields)
    }

    private struct Reader {
        let bytes: [UInt8]
        var i = 0

        mutating func skipSpace() {
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "#") {
                    while i < bytes.count, bytes[i] != 0x0A { i += 1 }
                } else if bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x09 || bytes[i] == 0x0D {
                    i += 1
                } else {
                    return
                }
            }
        }

        mutating func fields(until close: UInt8?) throws -> [(String, TextProto)] {
            var out: [(String, TextProto)] = []
            while true {
                skipSpace()
                if i >= bytes.count {
                    if close != nil { throw ParseError(description: "unexpected end") }
                    return out
                }
                if let close, bytes[i] == close {
                    i += 1
                    return out
                }
                var name = ""
                if bytes[i] == UInt8(ascii: "[") {
                    // An extension or Any type URL: [type.googleapis.com/pkg.Message]
                    let start = i
                    while i < bytes.count, bytes[i] != UInt8(ascii: "]") { i += 1 }
                    i += 1
                    name = String(decoding: bytes[start..<min(i, bytes.count)], as: UTF8.self)
                } else {
                    name = word()
                }
                guard !name.isEmpty else { throw ParseError(description: "expected a field name at \(i)") }
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: ":") {
                    i += 1
                    skipSpace()
                }
                out.append((name, try value()))
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: ",") || bytes[i] == UInt8(ascii: ";") { i += 1 }
            }
        }

        mutating func word() -> String {
            let start = i
            while i < bytes.count, bytes[i] == UInt8(ascii: "_") || bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "-")
                || bytes[i] == UInt8(ascii: "+") || (bytes[i] >= 48 && bytes[i] <= 57) || (bytes[i] | 0x20 >= 97 && bytes[i] | 0x20 <= 122) {
                i += 1
            }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        mutating func value() throws -> TextProto {
            guard i < bytes.count else { throw ParseError(description: "expected a value") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                return .message(try fields(until: UInt8(ascii: "}")))
            case UInt8(ascii: "<"):
                i += 1
                return .message(try fields(until: UInt8(ascii: ">")))
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                // Adjacent strings concatenate.
                var all: [UInt8] = []
                while i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'") {
                    all += try string()
                    skipSpace()
                }
                return .string(all)
            default:
                let w = word()
                guard !w.isEmpty else { throw ParseError(description: "expected a value at \(i)") }
                return .scalar(w)
            }
        }

        mutating func string() throws -> [UInt8] {
            let quote = bytes[i]
            i += 1
            var out: [UInt8] = []
            while i < bytes.count, bytes[i] != quote {
                guard bytes[i] == UInt8(ascii: "\\") else {
                    out.append(bytes[i])
                    i += 1
                    continue
                }
                i += 1
                let c = bytes[i]
                i += 1
                switch c {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "a"): out.append(0x07)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "v"): out.append(0x0B)
                case UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let count = c == UInt8(ascii: "u") ? 4 : 8
                    let hex = String(decoding: bytes[i..<min(i + count, bytes.count)], as: UTF8.self)
                    i += count
                    guard let v = UInt32(hex, radix: 16), let scalar = UnicodeScalar(v) else { throw ParseError(description: "bad \\u escape") }
                    out += Array(String(Character(scalar)).utf8)
                case UInt8(ascii: "x"), UInt8(ascii: "X"):
                    var v = 0
                    var n = 0
                    while n < 2, i < bytes.count, let d = Int(String(UnicodeScalar(bytes[i])), radix: 16) {
                        v = v * 16 + d
                        i += 1
                        n += 1
                    }
                    out.append(UInt8(v))
                case UInt8(ascii: "0")...UInt8(ascii: "7"):
                    var v = Int(c - 48)
                    var n = 1
                    while n < 3, i < bytes.count, bytes[i] >= 48 && bytes[i] <= 55 {
                        v = v * 8 + Int(bytes[i] - 48)
                        i += 1
                        n += 1
                    }
                    out.append(UInt8(v & 0xFF))
                default: out.append(c)
                }
            }
            guard i < bytes.count else { throw ParseError(description: "unterminated string") }
            i += 1
            return out
        }
    }
}
