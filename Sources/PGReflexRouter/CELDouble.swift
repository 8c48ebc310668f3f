/// Doubles as CEL writes them with `string()`: Go's `%g` over the shortest digits that read
/// back to the same double (`123.456`, `-0.0045`, `1e+06`, `1.5e-07`).
enum CELDouble {
    static func format(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Inf" : "+Inf" }
        if d == 0 { return d.sign == .minus ? "-0" : "0" }
        // Swift's description has the shortest round-trip digits; take them and the exponent.
        let text = d.magnitude.description
        var digits: [UInt8] = []
        var pointAt: Int? = nil
        var exponent = 0
        var rest = Substring(text)
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            rest = text[..<e]
        }
        for c in rest.utf8 {
            if c == UInt8(ascii: ".") { pointAt = digits.count } else { digits.append(c) }
        }
        // The decimal point's position in `digits`, as Go's decimal.dp.
        var dp = (pointAt ?? digits.count) + exponent
        while let first = digits.first, first == UInt8(ascii: "0"), digits.count > 1 {
            digits.removeFirst()
            dp -= 1
        }
        while let last = digits.last, last == UInt8(ascii: "0"), digits.count > 1 { digits.removeLast() }
        let sign = d < 0 ? "-" : ""
        let x = dp - 1
        if x < -4 || x >= 6 {
            // %e: d.ddde±XX, at least two exponent digits.
            var out = String(UnicodeScalar(digits[0]))
            if digits.count > 1 { out += "." + String(decoding: digits[1...], as: UTF8.self) }
            let magnitude = x.magnitude
            out += (x < 0 ? "e-" : "e+") + (magnitude < 10 ? "0" : "") + String(magnitude)
            return sign + out
        }
        // %f with the digits it needs.
        if dp <= 0 {
            return sign + "0." + String(repeating: "0", count: -dp) + String(decoding: digits, as: UTF8.self)
        }
        if dp >= digits.count {
            return sign + String(decoding: digits, as: UTF8.self) + String(repeating: "0", count: dp - digits.count)
        }
        return sign + String(decoding: digits[..<dp], as: UTF8.self) + "." + String(decoding: digits[dp...], as: UTF8.self)
    }
}
