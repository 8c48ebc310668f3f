/// How a column's text form becomes JSON, chosen once per column from its type OID.
enum JSONValueKind: Sendable {
    /// The text form is already a JSON number (integers, oid).
    case integer
    /// A float: a JSON number, except NaN and ±Infinity, which are written as strings.
    case float
    /// `t`/`f` to true/false.
    case boolean
    /// json and jsonb: embedded as JSON, not as a string.
    case json
    /// Everything else: a JSON string of the text form.
    case string

    init(typeOID: UInt32) {
        switch typeOID {
        case 20, 21, 23, 26: self = .integer  // int8, int2, int4, oid
        case 700, 701: self = .float  // float4, float8
        case 16: self = .boolean
        case 114, 3802: self = .json
        default: self = .string
        }
    }
}

extension JSONValueKind {
    func write(_ text: UnsafeBufferPointer<UInt8>, into writer: inout JSONWriter) {
        switch self {
        case .integer, .json:
            writer.raw(text)
        case .float:
            // NaN, Infinity and -Infinity are not JSON numbers.
            if let last = text.last, last == UInt8(ascii: "N") || last == UInt8(ascii: "y") {
                writer.string(utf8: text)
            } else {
                writer.raw(text)
            }
        case .boolean:
            writer.bool(text.first == UInt8(ascii: "t"))
        case .string:
            writer.string(utf8: text)
        }
    }
}
