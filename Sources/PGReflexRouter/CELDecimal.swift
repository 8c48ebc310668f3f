/// An exact decimal for CEL: PostgreSQL `numeric` values arrive as strings in the envelope
/// (Debezium's string mode), and must compare and add without binary rounding: `612.10 > 612.1`
/// is false, as it is in SQL.
///
/// `mantissa × 10^-scale`, with up to 38 significant digits (an `Int128`).
public struct CELDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var mantissa: Int128
    public var scale: Int

    static let maxScale = 38

    public init(mantissa: Int128, scale: Int) {
        self.mantissa = mantissa
        self.scale = scale
    }

    public init(_ value: Int64) {
        self.init(mantissa: Int128(value), scale: 0)
    }

    /// Parses `-12`, `612.50`, `.5`, `1e3`, `1.5E-2`; nil for anything else (NaN, Infinity,
    /// text, more than 38 digits).
    public init?(parsing text: some StringProtocol) {
        // Route conditions parse a numeric column's text on every event: scan the bytes in
        // place when the string has them contiguous (native strings do).
        if let parsed = text.utf8.withContiguousStorageIfAvailable({ Self.parse($0) }) {
            guard let parsed else { return nil }
            self = parsed
        } else {
            guard let parsed = Array(text.utf8).withUnsafeBufferPointer({ Self.parse($0) }) else { return nil }
            self = parsed
        }
    }

    private static func parse(_ utf8: UnsafeBufferPointer<UInt8>) -> CELDecimal? {
        var index = 0
        var negative = false
        if let first = utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            index = 1
        }
        var mantissa: Int128 = 0
        var scale = 0
        var digits = 0
        var seenPoint = false
        var exponent = 0
        var sawDigit = false
        while index < utf8.count {
            let byte = utf8[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                sawDigit = true
                if digits > 0 || byte != UInt8(ascii: "0") { digits += 1 }
                guard digits <= 38 else { return nil }
                mantissa = mantissa * 10 + Int128(byte - UInt8(ascii: "0"))
                if seenPoint { scale += 1 }
            } else if byte == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E"), sawDigit {
                guard let value = Int(String(decoding: UnsafeBufferPointer(rebasing: utf8[(index + 1)...]), as: UTF8.self)),
                      value.magnitude <= 76 else { return nil }
                exponent = value
                break
            } else {
                return nil
            }
            index += 1
        }
        guard sawDigit else { return nil }
        scale -= exponent
        while scale < 0 {
            let (scaled, overflow) = mantissa.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            mantissa = scaled
            scale += 1
        }
        guard scale <= maxScale else { return nil }
        return CELDecimal(mantissa: negative ? -mantissa : mantissa, scale: scale)
    }

    /// Both at the larger scale; nil when that overflows.
    static func aligned(_ a: CELDecimal, _ b: CELDecimal) -> (Int128, Int128, Int)? {
        var (x, y) = (a.mantissa, b.mantissa)
        let scale = max(a.scale, b.scale)
        for _ in a.scale..<scale {
            let (r, o) = x.multipliedReportingOverflow(by: 10)
            if o { return nil }
            x = r
        }
        for _ in b.scale..<scale {
            let (r, o) = y.multipliedReportingOverflow(by: 10)
            if o { return nil }
            y = r
        }
        return (x, y, scale)
    }

    public static func < (a: CELDecimal, b: CELDecimal) -> Bool {
        if let (x, y, _) = aligned(a, b) { return x < y }
        return a.doubleValue < b.doubleValue
    }

    public static func == (a: CELDecimal, b: CELDecimal) -> Bool {
        if let (x, y, _) = aligned(a, b) { return x == y }
        return false
    }

    public func hash(into hasher: inout Hasher) {
        // Equal values hash alike whatever their scale: hash the normalized form.
        var (m, s) = (mantissa, scale)
        while s > 0 && m % 10 == 0 {
            m /= 10
            s -= 1
        }
        hasher.combine(m)
        hasher.combine(s)
    }

    /// The nearest double, correctly rounded: exact when the mantissa and the power of ten are
    /// both exact doubles (one IEEE division rounds once), strtod otherwise.
    public var doubleValue: Double {
        if mantissa.magnitude <= 1 << 53, (0...22).contains(scale) {
            return Double(mantissa) / Self.powersOfTen[scale]
        }
        return Double(description) ?? .nan
    }

    private static let powersOfTen: [Double] = (0...22).map { (0..<$0).reduce(1.0) { r, _ in r * 10 } }

    /// The negation; nil in the one case it does not fit (Int128.min).
    public var negated: CELDecimal? {
        mantissa == .min ? nil : CELDecimal(mantissa: -mantissa, scale: scale)
    }

    /// Truncated toward zero, if it fits an Int64.
    public var truncatedInt64: Int64? {
        var (m, s) = (mantissa, scale)
        while s > 0 {
            m /= 10
            s -= 1
        }
        return s == 0 ? Int64(exactly: m) : nil
    }

    static func + (a: CELDecimal, b: CELDecimal) -> CELDecimal? {
        guard let (x, y, scale) = aligned(a, b) else { return nil }
        let (sum, overflow) = x.addingReportingOverflow(y)
        return overflow ? nil : CELDecimal(mantissa: sum, scale: scale)
    }

    static func - (a: CELDecimal, b: CELDecimal) -> CELDecimal? {
        a + CELDecimal(mantissa: -b.mantissa, scale: b.scale)
    }

    static func * (a: CELDecimal, b: CELDecimal) -> CELDecimal? {
        let (product, overflow) = a.mantissa.multipliedReportingOverflow(by: b.mantissa)
        guard !overflow, a.scale + b.scale <= maxScale else { return nil }
        return CELDecimal(mantissa: product, scale: a.scale + b.scale)
    }

    public var description: String {
        let negative = mantissa < 0
        var digits = String(mantissa.magnitude)
        if scale > 0 {
            if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        return (negative ? "-" : "") + digits
    }
}
