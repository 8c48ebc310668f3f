/// How a column's text form becomes JSON, resolved once per column from its type (built-in
/// OIDs directly, everything else through the catalog).
public indirect enum ValueKind: Sendable, Equatable {
    /// int2, int4, int8, oid: the text form is already a JSON number.
    case integer
    /// float4, float8: a JSON number; NaN and ±Infinity as strings, as JSON has no such numbers.
    case float
    /// numeric, written per ``DecimalHandling``.
    case numeric
    /// money: written per ``DecimalHandling`` after stripping the currency symbol and separators.
    case money
    case boolean
    /// json, jsonb, and pgvector's `vector` (whose text form is a JSON array): embedded as JSON.
    case json
    /// bytea (hex text form): base64, as Debezium writes bytes.
    case bytea
    /// timestamp without time zone: ISO-8601 without offset.
    case timestamp
    /// timestamptz: ISO-8601 in UTC, with `Z`.
    case timestamptz
    /// timetz: ISO-8601 time in UTC, with `Z`.
    case timetz
    /// Arrays of any element kind, any number of dimensions, with NULL elements.
    case array(element: ValueKind, delimiter: UInt8)
    /// Composite types: a JSON object of the attributes.
    case composite(fields: [CompositeField])
    /// hstore: a JSON object of strings (or nulls).
    case hstore
    /// text, varchar, char, uuid, date, time, interval, enums, inet, cidr, macaddr, ranges,
    /// tsvector, and any unknown type: the text form as a JSON string.
    case string

    public struct CompositeField: Sendable, Equatable {
        public var name: String
        public var kind: ValueKind

        public init(name: String, kind: ValueKind) {
            self.name = name
            self.kind = kind
        }
    }

    /// The kind of a built-in type, or nil when the catalog must say (arrays, user types).
    public static func builtin(_ oid: UInt32) -> ValueKind? {
        switch oid {
        case 20, 21, 23, 26, 28: .integer  // int8, int2, int4, oid, xid
        case 700, 701: .float
        case 1700: .numeric
        case 790: .money
        case 16: .boolean
        case 114, 3802: .json
        case 17: .bytea
        case 1114: .timestamp
        case 1184: .timestamptz
        case 1266: .timetz
        // text, varchar, bpchar, name, char, uuid, date, time, interval, inet, cidr, macaddr,
        // macaddr8, tsvector, tsquery, the built-in ranges, xml, bit, varbit, pg_lsn
        case 25, 1043, 1042, 19, 18, 2950, 1082, 1083, 1186, 869, 650, 829, 774, 3614, 3615,
             3904, 3906, 3908, 3910, 3912, 3926, 142, 1560, 1562, 3220:
            .string
        default: nil
        }
    }
}

/// How numeric and money values are written, as Debezium's `decimal.handling.mode`.
public enum DecimalHandling: String, Sendable, CaseIterable {
    /// A JSON string of the exact decimal (the default: no precision lost, easy to read).
    case string
    /// A JSON number (may lose precision); NaN and ±Infinity as strings.
    case double
    /// Debezium's precise form without a schema: `{"scale":s,"value":base64}`, the value
    /// being the unscaled integer as big-endian two's complement.
    case precise
}
