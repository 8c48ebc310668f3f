import Foundation
import PGReflexWire
import Synchronization

/// Timestamps and durations for the expression language: RFC 3339 parsing (and PostgreSQL's
/// text form, with a space and a short offset), calendar fields in UTC, a fixed offset or a
/// named time zone, and Go-style duration strings.
enum CELTime {
    /// `2024-05-01T14:30:00Z`, `2024-05-01T14:30:00.123456+02:00`, `2024-05-01 14:30:00+02`;
    /// microseconds since the epoch. Without an offset, UTC.
    static func parseTimestamp(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
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
        var micros: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48 && b[i] <= 57 {
                if digits < 6 { micros = micros * 10 + Int64(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 6) { micros *= 10 }
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
        return ((days * 86_400 + hour * 3600 + minute * 60 + second) - offset) * 1_000_000 + micros
    }

    /// `90s`, `1h30m`, `250ms`, `-1.5h`, `2us`: Go's duration syntax, as CEL has it.
    static func parseDuration(_ text: String) -> Int64? {
        var rest = Substring(text)
        var sign: Double = 1
        if rest.first == "-" {
            sign = -1
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return nil }
        var total: Double = 0
        let units: [(String, Double)] = [("ms", 1e3), ("us", 1), ("µs", 1), ("ns", 1e-3), ("h", 3.6e9), ("m", 6e7), ("s", 1e6)]
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            total += value * unit.1
        }
        return Int64(sign * total)
    }

    /// Seconds east of UTC for a zone at an instant: `UTC`, `+05:30`, `-08`, or an IANA name.
    static func offsetSeconds(zone: String, at micros: Int64) -> Int64? {
        if zone == "UTC" || zone == "Z" { return 0 }
        if let first = zone.first, first == "+" || first == "-" {
            let digits = zone.dropFirst().split(separator: ":")
            guard let hours = digits.first.flatMap({ Int64($0) }), digits.count <= 2 else { return nil }
            let minutes = digits.count == 2 ? Int64(digits[1]) ?? -1 : 0
            guard (0..<24).contains(hours), (0..<60).contains(minutes) else { return nil }
            return (first == "-" ? -1 : 1) * (hours * 3600 + minutes * 60)
        }
        guard let timeZone = zones.withLock({ cache -> TimeZone? in
            if let known = cache[zone] { return known }
            let found = TimeZone(identifier: zone)
            cache[zone] = found
            return found
        }) else { return nil }
        return Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(micros) / 1e6)))
    }

    /// Zones looked up by name, once each.
    private static let zones = Mutex<[String: TimeZone?]>([:])

    /// A calendar field, as CEL numbers them: months and days of the month from 0 (getMonth,
    /// getDayOfMonth), getDate from 1, getDayOfWeek from Sunday = 0.
    static func field(_ function: CELFunction, micros: Int64, offsetSeconds: Int64) -> Int64 {
        let seconds = Int64((Double(micros) / 1e6).rounded(.down)) + offsetSeconds
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = PostgresTimestamp.civil(fromDays: days)
        switch function {
        case .getHours: return secondOfDay / 3600
        case .getMinutes: return secondOfDay % 3600 / 60
        case .getSeconds: return secondOfDay % 60
        case .getDayOfWeek: return ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday
        case .getDayOfMonth: return day - 1
        case .getDate: return day
        case .getMonth: return month - 1
        case .getFullYear: return year
        case .getDayOfYear: return days - PostgresTimestamp.days(fromCivil: year, month: 1, day: 1)
        default: return 0
        }
    }

    /// As envelopes write timestamps: `2024-02-29T12:34:56.000000Z`.
    static func format(_ micros: Int64) -> String {
        PostgresTimestamp(unixMicroseconds: micros).iso8601
    }
}

/// Regular expressions for `matches`, compiled once per pattern.
enum CELRegexCache {
    struct Compiled: @unchecked Sendable {
        // Safe: Regex values are immutable once built; `wholeMatch`/`firstMatch` do not mutate them.
        let regex: Regex<AnyRegexOutput>

        /// CEL's `matches` is RE2's partial match: the pattern may match anywhere.
        func matches(_ text: String) -> Bool {
            (try? regex.firstMatch(in: text)) != nil
        }
    }

    private static let cache = Mutex<[String: Compiled]>([:])

    static func compile(_ pattern: String) throws -> Compiled {
        if let known = cache.withLock({ $0[pattern] }) { return known }
        let compiled = Compiled(regex: try Regex(pattern))
        cache.withLock { $0[pattern] = compiled }
        return compiled
    }
}
