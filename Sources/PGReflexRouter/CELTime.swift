import Foundation
import PGReflexWire
import Synchronization

/// Timestamps and durations for the expression language, in nanoseconds: RFC 3339 parsing (and
/// PostgreSQL's text form, with a space and a short offset), CEL's ranges, calendar fields in
/// UTC, a fixed offset or a named time zone, and Go-style duration strings. Every step is
/// checked: a value out of range is nil, never a trap.
enum CELTime {
    static let nanosPerSecond: Int128 = 1_000_000_000
    /// CEL's timestamps run from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
    static let minSeconds: Int128 = -62_135_596_800
    static let maxSeconds: Int128 = 253_402_300_799
    static let timestampRange: ClosedRange<Int128> = (minSeconds * nanosPerSecond)...(maxSeconds * nanosPerSecond + 999_999_999)

    /// The timestamp if it is in CEL's range.
    static func timestamp(nanos: Int128) -> Int128? {
        timestampRange.contains(nanos) ? nanos : nil
    }

    /// Seconds since the epoch as a timestamp, if in range.
    static func timestamp(seconds: Int64) -> Int128? {
        timestamp(nanos: Int128(seconds) * nanosPerSecond)
    }

    /// A duration of `nanos`, if it fits CEL's (an Int64 of nanoseconds).
    static func duration(nanos: Int128) -> Int64? {
        Int64(exactly: nanos)
    }

    /// `2024-05-01T14:30:00Z`, `2024-05-01T14:30:00.123456789+02:00`, `2024-05-01 14:30:00+02`;
    /// nanoseconds since the epoch. Without an offset, UTC. Nil when malformed or out of range.
    static func parseTimestamp(_ text: String) -> Int128? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int64? {
            guard from >= 0, from + count <= b.count else { return nil }
            var value: Int64 = 0
            for i in from..<(from + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                value = value * 10 + Int64(b[i] - 48)
            }
            return value
        }
        guard b.count >= 19, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var nanos: Int128 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48 && b[i] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int128(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 9) { nanos *= 10 }
        }
        var offset: Int64 = 0
        if i < b.count {
            if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
                i += 1
            } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let sign: Int64 = b[i] == UInt8(ascii: "-") ? -1 : 1
                guard let hours = number(i + 1, 2) else { return nil }
                i += 3
                var minutes: Int64 = 0
                if i < b.count {
                    if b[i] == UInt8(ascii: ":") { i += 1 }
                    guard let m = number(i, 2) else { return nil }
                    minutes = m
                    i += 2
                }
                offset = sign * (hours * 3600 + minutes * 60)
            } else {
                return nil
            }
        }
        guard i == b.count else { return nil }
        let days = PostgresTimestamp.days(fromCivil: year, month: month, day: day)
        let seconds = Int128(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
        return timestamp(nanos: seconds * nanosPerSecond + nanos)
    }

    /// `90s`, `1h30m`, `250ms`, `-1.5h`, `2us`, `0`: Go's duration syntax, as CEL has it, in
    /// exact integer arithmetic. Nil when malformed or beyond an Int64 of nanoseconds.
    static func parseDuration(_ text: String) -> Int64? {
        var b = Substring(text).utf8[...]
        var negative = false
        if let first = b.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            b = b.dropFirst()
        }
        if b.elementsEqual("0".utf8) { return 0 }
        guard !b.isEmpty else { return nil }
        // Units in nanoseconds; longer names first so that "ms" is not read as "m".
        let units: [(String, Int128)] = [("ns", 1), ("us", 1_000), ("µs", 1_000), ("μs", 1_000), ("ms", 1_000_000),
                                         ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000)]
        // Bounded well past Int64 so that no step below can overflow an Int128.
        let ceiling: Int128 = Int128(Int64.max) + 1
        var total: Int128 = 0
        while !b.isEmpty {
            var whole: Int128 = 0
            var fraction: Int128 = 0
            var fractionScale: Int128 = 1
            var sawDigit = false
            while let c = b.first, c >= 48 && c <= 57 {
                whole = whole * 10 + Int128(c - 48)
                guard whole <= ceiling else { return nil }
                sawDigit = true
                b = b.dropFirst()
            }
            if b.first == UInt8(ascii: ".") {
                b = b.dropFirst()
                while let c = b.first, c >= 48 && c <= 57 {
                    // Digits past the 18th cannot change a count of nanoseconds of any unit here.
                    if fractionScale < 1_000_000_000_000_000_000 {
                        fraction = fraction * 10 + Int128(c - 48)
                        fractionScale *= 10
                    }
                    sawDigit = true
                    b = b.dropFirst()
                }
            }
            guard sawDigit, let unit = units.first(where: { b.starts(with: $0.0.utf8) }) else { return nil }
            b = b.dropFirst(unit.0.utf8.count)
            total += whole * unit.1 + fraction * unit.1 / fractionScale
            guard total <= ceiling else { return nil }
        }
        return Int64(exactly: negative ? -total : total)
    }

    /// Seconds east of UTC for a zone at an instant: `UTC`, `+05:30`, `-08`, `02:00`, or an IANA name.
    static func offsetSeconds(zone: String, at nanos: Int128) -> Int64? {
        if zone == "UTC" || zone == "Z" { return 0 }
        if let first = zone.first, first == "+" || first == "-" || first.isNumber {
            let digits = (first.isNumber ? Substring(zone) : zone.dropFirst()).split(separator: ":", omittingEmptySubsequences: false)
            guard digits.count <= 2, let hours = digits.first.flatMap({ Int64($0) }) else { return nil }
            let minutes = digits.count == 2 ? Int64(digits[1]) ?? -1 : 0
            guard (0..<24).contains(hours), (0..<60).contains(minutes) else { return nil }
            return (first == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
        }
        guard let timeZone = zones.withLock({ cache -> TimeZone? in
            if let known = cache[zone] { return known }
            let found = TimeZone(identifier: zone)
            // Names come from expressions and rows: keep the cache bounded.
            if cache.count >= 256 { cache.removeAll(keepingCapacity: true) }
            cache[zone] = found
            return found
        }) else { return nil }
        let seconds = Double(floorSeconds(nanos))
        return Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: seconds)))
    }

    /// Zones looked up by name, once each.
    private static let zones = Mutex<[String: TimeZone?]>([:])

    /// Whole seconds since the epoch, rounded down (a timestamp before 1970 with a fraction
    /// belongs to the earlier second).
    static func floorSeconds(_ nanos: Int128) -> Int64 {
        let (q, r) = nanos.quotientAndRemainder(dividingBy: nanosPerSecond)
        // In range by construction: timestamps are range-checked wherever they are made.
        return Int64(truncatingIfNeeded: r < 0 ? q - 1 : q)
    }

    /// A calendar field, as CEL numbers them: months and days of the month from 0 (getMonth,
    /// getDayOfMonth), getDate from 1, getDayOfWeek from Sunday = 0.
    static func field(_ function: CELFunction, nanos: Int128, offsetSeconds: Int64) -> Int64 {
        let seconds = floorSeconds(nanos) + offsetSeconds
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = PostgresTimestamp.civil(fromDays: days)
        switch function {
        case .getHours: return secondOfDay / 3600
        case .getMinutes: return secondOfDay % 3600 / 60
        case .getSeconds: return secondOfDay % 60
        case .getMilliseconds:
            let r = nanos % nanosPerSecond
            return Int64((r < 0 ? r + nanosPerSecond : r) / 1_000_000)
        case .getDayOfWeek: return ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday
        case .getDayOfMonth: return day - 1
        case .getDate: return day
        case .getMonth: return month - 1
        case .getFullYear: return year
        case .getDayOfYear: return days - PostgresTimestamp.days(fromCivil: year, month: 1, day: 1)
        default: return 0
        }
    }

    /// A duration's field, as CEL has them: each is the whole duration in that unit, truncated.
    static func field(_ function: CELFunction, duration nanos: Int64) -> Int64? {
        switch function {
        case .getHours: nanos / 3_600_000_000_000
        case .getMinutes: nanos / 60_000_000_000
        case .getSeconds: nanos / 1_000_000_000
        case .getMilliseconds: nanos / 1_000_000
        default: nil
        }
    }

    /// CEL's form (Go's RFC 3339 with nanoseconds): `2009-02-13T23:31:30Z`,
    /// `9999-12-31T23:59:59.999999999Z`; the fraction without trailing zeros.
    static func format(timestamp nanos: Int128) -> String {
        let seconds = floorSeconds(nanos)
        let fraction = Int64(nanos - Int128(seconds) * nanosPerSecond)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = PostgresTimestamp.civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay % 3600 / 60, 2)):\(pad(secondOfDay % 60, 2))"
        if fraction != 0 {
            var digits = pad(fraction, 9)
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text + "Z"
    }

    /// CEL's form: seconds with the fraction they need, `1000000s`, `1.5s`, `-0.000000001s`.
    static func format(duration nanos: Int64) -> String {
        let magnitude = nanos.magnitude
        var text = (nanos < 0 ? "-" : "") + String(magnitude / 1_000_000_000)
        let fraction = magnitude % 1_000_000_000
        if fraction != 0 {
            var digits = String(fraction)
            digits = String(repeating: "0", count: 9 - digits.count) + digits
            while digits.hasSuffix("0") { digits.removeLast() }
            text += "." + digits
        }
        return text + "s"
    }
}
