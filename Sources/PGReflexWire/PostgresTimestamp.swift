#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL `TimestampTz` as sent on the replication wire:
/// microseconds since 2000-01-01 00:00:00 UTC.
public struct PostgresTimestamp: RawRepresentable, Hashable, Comparable, Sendable {
    public var rawValue: Int64

    public init(rawValue: Int64) {
        self.rawValue = rawValue
    }

    /// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
    public static let unixEpochOffsetMicroseconds: Int64 = 946_684_800_000_000

    public init(unixMicroseconds: Int64) {
        self.rawValue = unixMicroseconds &- Self.unixEpochOffsetMicroseconds
    }

    public var unixMicroseconds: Int64 {
        rawValue &+ Self.unixEpochOffsetMicroseconds
    }

    /// The wall clock now: the one clock read for status updates, envelope processing times
    /// and journal ages.
    public static func now() -> PostgresTimestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return PostgresTimestamp(unixMicroseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// Appends ISO-8601 in UTC with microseconds, e.g. `2026-11-21T10:00:00.123456Z`.
    /// PostgreSQL's `infinity` and `-infinity` are written as those words.
    public func writeISO8601(into buffer: inout [UInt8]) {
        if rawValue == .max { buffer.append(contentsOf: "infinity".utf8); return }
        if rawValue == .min { buffer.append(contentsOf: "-infinity".utf8); return }
        let micros = unixMicroseconds
        var days = micros / 86_400_000_000
        var rest = micros % 86_400_000_000
        if rest < 0 { rest += 86_400_000_000; days -= 1 }
        let (year, month, day) = Self.civil(fromDays: days)
        let secondsOfDay = rest / 1_000_000
        let fraction = rest % 1_000_000
        if year < 0 || year > 9999 {
            // Outside ISO-8601's four-digit years: keep the sign and width honest.
            if year < 0 { buffer.append(UInt8(ascii: "-")) }
            Self.appendDecimal(UInt64(abs(year)), width: 4, into: &buffer)
        } else {
            Self.appendDecimal(UInt64(year), width: 4, into: &buffer)
        }
        buffer.append(UInt8(ascii: "-"))
        Self.appendDecimal(UInt64(month), width: 2, into: &buffer)
        buffer.append(UInt8(ascii: "-"))
        Self.appendDecimal(UInt64(day), width: 2, into: &buffer)
        buffer.append(UInt8(ascii: "T"))
        Self.appendDecimal(UInt64(secondsOfDay / 3600), width: 2, into: &buffer)
        buffer.append(UInt8(ascii: ":"))
        Self.appendDecimal(UInt64(secondsOfDay / 60 % 60), width: 2, into: &buffer)
        buffer.append(UInt8(ascii: ":"))
        Self.appendDecimal(UInt64(secondsOfDay % 60), width: 2, into: &buffer)
        buffer.append(UInt8(ascii: "."))
        Self.appendDecimal(UInt64(fraction), width: 6, into: &buffer)
        buffer.append(UInt8(ascii: "Z"))
    }

    public var iso8601: String {
        var bytes: [UInt8] = []
        writeISO8601(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil-to-days).
    public static func days(fromCivil year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    public static func civil(fromDays z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func appendDecimal(_ value: UInt64, width: Int, into buffer: inout [UInt8]) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[count] = UInt8(v % 10) + 48
                v /= 10
                count += 1
            } while v > 0
            for _ in count..<max(width, count) { buffer.append(48) }
            var i = count
            while i > 0 { i -= 1; buffer.append(raw[i]) }
        }
    }
}
