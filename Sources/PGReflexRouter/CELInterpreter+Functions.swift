/// The functions of the subset: size, the string tests, time, and conversions, each checked
/// (a value out of range is an error, never a trap).
extension CELInterpreter {
    func call(_ function: CELFunction, _ receiver: CELValue?, _ arguments: [CELValue], _ node: CELNode) throws(CELEvaluationError) -> CELValue {
        switch function {
        case .size:
            switch receiver ?? arguments[0] {
            case .string(let s): return .int(Int64(s.unicodeScalars.count))
            case .list(let l): return .int(Int64(l.count))
            case .map(let m): return .int(Int64(m.count))
            case let other: throw fail("size() needs a string, list or map, not a \(other.typeName)", node)
            }
        case .startsWith, .endsWith, .contains, .matches:
            guard case .string(let s) = receiver, case .string(let t) = arguments[0] else {
                throw fail("\(function.rawValue) needs strings, not a \(receiver?.typeName ?? "?") and a \(arguments[0].typeName)", node)
            }
            switch function {
            // On code points (UTF-8 bytes), as CEL has it: Swift's String compares Characters.
            case .startsWith: return .bool(s.utf8.starts(with: t.utf8))
            case .endsWith: return .bool(s.utf8.reversed().starts(with: t.utf8.reversed()))
            case .contains: return .bool(Self.contains(s, t))
            default:
                // A pattern that is not a literal (a literal one is compiled at load).
                do {
                    return .bool(try CELRegexCache.compile(t).matches(s))
                } catch {
                    throw fail("matches: '\(t)' is not a valid RE2 pattern: \(error.message)", node)
                }
            }
        case .timestamp:
            switch arguments[0] {
            case .string(let s):
                guard let nanos = CELTime.parseTimestamp(s) else {
                    throw fail("timestamp(): '\(s)' is not an RFC 3339 time between years 1 and 9999, such as 2024-05-01T14:30:00Z", node)
                }
                return .timestamp(nanos)
            case .int(let seconds):
                guard let nanos = CELTime.timestamp(seconds: seconds) else {
                    throw fail("timestamp(): \(seconds) seconds is out of range (years 1 to 9999); a value in milliseconds or microseconds needs dividing first, as in timestamp(after.created_us / 1000000)", node)
                }
                return .timestamp(nanos)
            case .timestamp(let t): return .timestamp(t)
            case let other: throw fail("timestamp() needs a string or an int of seconds, not a \(other.typeName)", node)
            }
        case .duration:
            switch arguments[0] {
            case .string(let s):
                guard let nanos = CELTime.parseDuration(s) else {
                    throw fail("duration(): '\(s)' is not a duration within ±292 years, such as \"90s\", \"1h30m\" or \"250ms\"", node)
                }
                return .duration(nanos)
            case .duration(let d): return .duration(d)
            case let other: throw fail("duration() needs a string such as \"90s\", \"1h30m\" or \"250ms\", not a \(other.typeName)", node)
            }
        case .getHours, .getMinutes, .getSeconds, .getMilliseconds, .getDayOfWeek, .getDayOfMonth, .getDayOfYear, .getDate, .getMonth, .getFullYear:
            if case .duration(let d) = receiver, arguments.isEmpty, let value = CELTime.field(function, duration: d) {
                return .int(value)
            }
            guard case .timestamp(let nanos) = receiver else {
                throw fail("\(function.rawValue)() needs a timestamp, not a \(receiver?.typeName ?? "?"): wrap it in timestamp()", node)
            }
            var offset: Int64 = 0
            if let zone = arguments.first {
                guard case .string(let name) = zone, let seconds = CELTime.offsetSeconds(zone: name, at: nanos) else {
                    throw fail("\(function.rawValue)(): not a time zone (use \"UTC\", \"+02:00\" or a name such as \"Europe/Paris\")", node)
                }
                offset = seconds
            }
            return .int(CELTime.field(function, nanos: nanos, offsetSeconds: offset))
        case .int:
            switch arguments[0] {
            case .int(let i): return .int(i)
            case .uint(let u):
                guard let i = Int64(exactly: u) else { throw fail("int(): \(u)u is out of the int range", node) }
                return .int(i)
            case .double(let d):
                // Truncated toward zero; ±2^63 itself is out of range, as in CEL.
                guard d.isFinite, d > -9_223_372_036_854_775_808.0, d < 9_223_372_036_854_775_808.0 else {
                    throw fail("int(): \(d) is out of the int range", node)
                }
                return .int(Int64(d))
            case .string(let s):
                guard let i = Int64(s) else { throw fail("int(): '\(s)' is not an integer", node) }
                return .int(i)
            case .decimal(let d):
                guard let i = d.truncatedInt64 else { throw fail("int(): \(d) is out of the int range", node) }
                return .int(i)
            case .timestamp(let t): return .int(CELTime.floorSeconds(t))
            case let other: throw fail("int() cannot convert a \(other.typeName)", node)
            }
        case .uint:
            switch arguments[0] {
            case .int(let i):
                guard let u = UInt64(exactly: i) else { throw fail("uint(): \(i) is out of the uint range", node) }
                return .uint(u)
            case .uint(let u): return .uint(u)
            case .double(let d):
                guard d.isFinite, d > -1, d < 18_446_744_073_709_551_616.0 else { throw fail("uint(): \(d) is out of the uint range", node) }
                return .uint(UInt64(d))
            case .string(let s):
                guard let u = UInt64(s) else { throw fail("uint(): '\(s)' is not an unsigned integer", node) }
                return .uint(u)
            case .decimal(let d):
                guard let i = d.truncatedInt64, let u = UInt64(exactly: i) else { throw fail("uint(): \(d) is out of the uint range", node) }
                return .uint(u)
            case let other: throw fail("uint() cannot convert a \(other.typeName)", node)
            }
        case .double:
            if case .string(let s) = arguments[0] {
                // CEL reads any float syntax here (1e3, -0.0, inf), correctly rounded.
                guard let d = Double(s.trimmingPlus) else { throw fail("double(): '\(s)' is not a number", node) }
                return .double(d)
            }
            guard let d = Self.doubleValue(arguments[0]) else { throw fail("double() cannot convert a \(arguments[0].typeName)", node) }
            return .double(d)
        case .dyn:
            return arguments[0]
        case .bool:
            switch arguments[0] {
            case .bool(let b): return .bool(b)
            case .string(let s):
                switch s {
                case "1", "t", "true", "TRUE", "True": return .bool(true)
                case "0", "f", "false", "FALSE", "False": return .bool(false)
                default: throw fail("bool(): '\(s)' is not true or false", node)
                }
            case let other: throw fail("bool() cannot convert a \(other.typeName)", node)
            }
        case .decimal:
            guard let d = arguments[0].exactNumber else { throw fail("decimal() cannot convert \(arguments[0])", node) }
            return .decimal(d)
        case .string:
            switch arguments[0] {
            case .string(let s): return .string(s)
            case .int(let i): return .string(String(i))
            case .uint(let u): return .string(String(u))
            case .double(let d): return .string(CELDouble.format(d))
            case .decimal(let d): return .string(d.description)
            case .bool(let b): return .string(String(b))
            case .timestamp(let t): return .string(CELTime.format(timestamp: t))
            case .duration(let d): return .string(CELTime.format(duration: d))
            case let other: throw fail("string() cannot convert a \(other.typeName)", node)
            }
        }
    }
}
