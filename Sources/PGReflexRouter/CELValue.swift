/// A value in the expression language: CEL's types, plus an exact decimal for PostgreSQL
/// `numeric`. Timestamps are nanoseconds since the Unix epoch, UTC, within CEL's range (years 1 to
/// 9999); durations are nanoseconds within an Int64 (about ±292 years), as cel-go has them.
public enum CELValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case decimal(CELDecimal)
    case string(String)
    case list([CELValue])
    case map([String: CELValue])
    case timestamp(Int128)
    case duration(Int64)

    /// CEL's name for the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null_type"
        case .bool: "bool"
        case .int: "int"
        case .uint: "uint"
        case .double: "double"
        case .decimal: "decimal"
        case .string: "string"
        case .list: "list"
        case .map: "map"
        case .timestamp: "google.protobuf.Timestamp"
        case .duration: "google.protobuf.Duration"
        }
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .int(let i): "\(i)"
        case .uint(let u): "\(u)u"
        case .double(let d): "\(d)"
        case .decimal(let d): d.description
        case .string(let s): "\"\(s)\""
        case .list(let l): "[" + l.map(\.description).joined(separator: ", ") + "]"
        case .map(let m): "{" + m.keys.sorted().map { "\"\($0)\": \(m[$0]!)" }.joined(separator: ", ") + "}"
        case .timestamp(let t): "timestamp('\(CELTime.format(timestamp: t))')"
        case .duration(let d): "duration('\(CELTime.format(duration: d))')"
        }
    }

    /// Numbers as one exact type where they can be: ints and decimals, and strings that are
    /// decimals (PostgreSQL `numeric` in the envelope). Doubles stay doubles.
    var exactNumber: CELDecimal? {
        switch self {
        case .int(let i): CELDecimal(i)
        case .uint(let u): CELDecimal(mantissa: Int128(u), scale: 0)
        case .decimal(let d): d
        case .string(let s): CELDecimal(parsing: s)
        default: nil
        }
    }

    var isNumber: Bool {
        switch self {
        case .int, .uint, .double, .decimal: true
        default: false
        }
    }
}
