/// Why an expression had no value for an event: a missing field, a type mismatch, an overflow.
/// A route whose `if` fails this way does not match; `route test` shows the reason.
public struct CELEvaluationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    /// UTF-8 offset of the failing node in the expression.
    public var offset: Int

    public var description: String { message }
}

/// The variables an expression sees: `event`, and its fields `before`, `after`, `source`, `op`
/// and `table` by themselves.
public typealias CELActivation = [String: CELValue]

extension CELExpression {
    /// The expression's value for these variables.
    public func evaluate(_ activation: CELActivation) throws(CELEvaluationError) -> CELValue {
        try CELInterpreter(activation: activation).eval(root)
    }

    /// Whether the expression holds: true only for the boolean `true`.
    public func holds(_ activation: CELActivation) throws(CELEvaluationError) -> Bool {
        switch try evaluate(activation) {
        case .bool(let value): return value
        case let other: throw CELEvaluationError(message: "the condition is a \(other.typeName), not a bool", offset: root.offset)
        }
    }
}

struct CELInterpreter {
    let activation: CELActivation

    func fail(_ message: String, _ node: CELNode) -> CELEvaluationError {
        CELEvaluationError(message: message, offset: node.offset)
    }

    func eval(_ node: CELNode) throws(CELEvaluationError) -> CELValue {
        switch node.kind {
        case .literal(let value):
            return value
        case .identifier(let name):
            guard let value = activation[name] else {
                throw fail("unknown variable '\(name)'; the variables are \(activation.keys.sorted().joined(separator: ", "))", node)
            }
            return value
        case .select(let operand, let field):
            let base = try eval(operand)
            guard case .map(let map) = base else { throw fail("cannot read .\(field) of a \(base.typeName)", node) }
            guard let value = map[field] else { throw fail("no field '\(field)'", node) }
            return value
        case .has(let operand, let field):
            let base = try eval(operand)
            guard case .map(let map) = base else { throw fail("has() needs a map, not a \(base.typeName)", node) }
            return .bool(map[field] != nil)
        case .index(let operand, let indexNode):
            let base = try eval(operand)
            let index = try eval(indexNode)
            switch (base, index) {
            case (.map(let map), .string(let key)):
                guard let value = map[key] else { throw fail("no key '\(key)'", node) }
                return value
            case (.list(let list), .int(let i)):
                guard i >= 0 && i < list.count else { throw fail("index \(i) is outside a list of \(list.count)", node) }
                return list[Int(i)]
            default:
                throw fail("cannot index a \(base.typeName) with a \(index.typeName)", node)
            }
        case .not(let operand):
            let value = try eval(operand)
            guard case .bool(let b) = value else { throw fail("! needs a bool, not a \(value.typeName)", node) }
            return .bool(!b)
        case .negate(let operand):
            switch try eval(operand) {
            case .int(let i):
                guard i != .min else { throw fail("integer overflow", node) }
                return .int(-i)
            case .double(let d): return .double(-d)
            case .decimal(let d): return .decimal(CELDecimal(mantissa: -d.mantissa, scale: d.scale))
            case .string(let s) where CELDecimal(parsing: s) != nil:
                let d = CELDecimal(parsing: s)!
                return .decimal(CELDecimal(mantissa: -d.mantissa, scale: d.scale))
            case let other: throw fail("- needs a number, not a \(other.typeName)", node)
            }
        case .and(let lhs, let rhs):
            // CEL's commutative logic: false wins over an error on either side.
            let left: Result<Bool, CELEvaluationError> = boolResult(lhs)
            if case .success(false) = left { return .bool(false) }
            let right = boolResult(rhs)
            if case .success(false) = right { return .bool(false) }
            // Neither is false: both true, or an error to report.
            let l = try left.get()
            let r = try right.get()
            return .bool(l && r)
        case .or(let lhs, let rhs):
            let left = boolResult(lhs)
            if case .success(true) = left { return .bool(true) }
            let right = boolResult(rhs)
            if case .success(true) = right { return .bool(true) }
            let l = try left.get()
            let r = try right.get()
            return .bool(l || r)
        case .conditional(let condition, let then, let otherwise):
            let value = try eval(condition)
            guard case .bool(let b) = value else { throw fail("?: needs a bool condition, not a \(value.typeName)", node) }
            return try eval(b ? then : otherwise)
        case .list(let elements):
            var values: [CELValue] = []
            values.reserveCapacity(elements.count)
            for element in elements { values.append(try eval(element)) }
            return .list(values)
        case .map(let entries):
            var map: [String: CELValue] = [:]
            for (keyNode, valueNode) in entries {
                guard case .string(let key) = try eval(keyNode) else { throw fail("map keys must be strings here", keyNode) }
                map[key] = try eval(valueNode)
            }
            return .map(map)
        case .binary(let op, let lhs, let rhs):
            return try binary(op, try eval(lhs), try eval(rhs), node)
        case .call(let function, let target, let arguments):
            let receiver = try target.map { (t: CELNode) throws(CELEvaluationError) in try eval(t) }
            var values: [CELValue] = []
            for argument in arguments { values.append(try eval(argument)) }
            return try call(function, receiver, values, node)
        }
    }

    func boolResult(_ node: CELNode) -> Result<Bool, CELEvaluationError> {
        do {
            switch try eval(node) {
            case .bool(let b): return .success(b)
            case let other: return .failure(fail("&& and || need bools, not a \(other.typeName)", node))
            }
        } catch {
            return .failure(error)
        }
    }

    // MARK: operators

    func binary(_ op: CELBinaryOperator, _ a: CELValue, _ b: CELValue, _ node: CELNode) throws(CELEvaluationError) -> CELValue {
        switch op {
        case .equal: return .bool(Self.equal(a, b))
        case .notEqual: return .bool(!Self.equal(a, b))
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            guard let order = Self.compare(a, b) else {
                throw fail("cannot order a \(a.typeName) and a \(b.typeName)", node)
            }
            let holds = switch op {
            case .less: order < 0
            case .lessOrEqual: order <= 0
            case .greater: order > 0
            default: order >= 0
            }
            return .bool(holds)
        case .in:
            switch b {
            case .list(let list): return .bool(list.contains { Self.equal(a, $0) })
            case .map(let map):
                guard case .string(let key) = a else { return .bool(false) }
                return .bool(map[key] != nil)
            default: throw fail("'in' needs a list or a map on its right, not a \(b.typeName)", node)
            }
        case .add, .subtract, .multiply, .divide, .remainder:
            return try arithmetic(op, a, b, node)
        }
    }

    /// Heterogeneous numeric equality, as CEL has it, with decimal strings as numbers when the
    /// other side is a number; otherwise values of different types are not equal.
    static func equal(_ a: CELValue, _ b: CELValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.list(let x), .list(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.map(let x), .map(let y)): return x.count == y.count && x.allSatisfy { key, value in y[key].map { equal(value, $0) } ?? false }
        default:
            if a.isNumber || b.isNumber, let order = compareNumbers(a, b) { return order == 0 }
            return a == b
        }
    }

    /// -1, 0 or 1; nil when the two cannot be ordered.
    static func compare(_ a: CELValue, _ b: CELValue) -> Int? {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y ? 0 : (x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        case (.timestamp(let x), .timestamp(let y)), (.duration(let x), .duration(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        default: return a.isNumber || b.isNumber ? compareNumbers(a, b) : nil
        }
    }

    static func compareNumbers(_ a: CELValue, _ b: CELValue) -> Int? {
        if let x = a.exactNumber, let y = b.exactNumber {
            return x == y ? 0 : (x < y ? -1 : 1)
        }
        guard let x = doubleValue(a), let y = doubleValue(b), !x.isNaN, !y.isNaN else { return nil }
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    static func doubleValue(_ value: CELValue) -> Double? {
        switch value {
        case .double(let d): d
        case .int(let i): Double(i)
        case .uint(let u): Double(u)
        case .decimal(let d): d.doubleValue
        case .string(let s): CELDecimal(parsing: s)?.doubleValue
        default: nil
        }
    }

    func arithmetic(_ op: CELBinaryOperator, _ a: CELValue, _ b: CELValue, _ node: CELNode) throws(CELEvaluationError) -> CELValue {
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)): return .string(x + y)
        case (.add, .list(let x), .list(let y)): return .list(x + y)
        case (.add, .timestamp(let t), .duration(let d)), (.add, .duration(let d), .timestamp(let t)): return .timestamp(t + d)
        case (.subtract, .timestamp(let t), .duration(let d)): return .timestamp(t - d)
        case (.subtract, .timestamp(let x), .timestamp(let y)): return .duration(x - y)
        case (.add, .duration(let x), .duration(let y)): return .duration(x + y)
        case (.subtract, .duration(let x), .duration(let y)): return .duration(x - y)
        case (_, .int(let x), .int(let y)):
            let (result, overflow): (Int64, Bool) = switch op {
            case .add: x.addingReportingOverflow(y)
            case .subtract: x.subtractingReportingOverflow(y)
            case .multiply: x.multipliedReportingOverflow(by: y)
            case .divide: y == 0 ? (0, true) : x.dividedReportingOverflow(by: y)
            default: y == 0 ? (0, true) : x.remainderReportingOverflow(dividingBy: y)
            }
            if overflow { throw fail(y == 0 && (op == .divide || op == .remainder) ? "division by zero" : "integer overflow", node) }
            return .int(result)
        case (_, .double, _), (_, _, .double):
            guard let x = Self.doubleValue(a), let y = Self.doubleValue(b) else { break }
            switch op {
            case .add: return .double(x + y)
            case .subtract: return .double(x - y)
            case .multiply: return .double(x * y)
            case .divide: return .double(x / y)
            default: break
            }
        default:
            // Exact decimals (and decimal strings next to a number), except division, which is a double.
            guard a.isNumber || b.isNumber, let x = a.exactNumber, let y = b.exactNumber else { break }
            let result: CELDecimal? = switch op {
            case .add: x + y
            case .subtract: x - y
            case .multiply: x * y
            default: nil
            }
            if let result { return .decimal(result) }
            if op == .divide {
                guard y.doubleValue != 0 else { throw fail("division by zero", node) }
                return .double(x.doubleValue / y.doubleValue)
            }
        }
        throw fail("cannot apply \(op.rawValue) to a \(a.typeName) and a \(b.typeName)", node)
    }

    // MARK: functions

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
            case .startsWith: return .bool(s.hasPrefix(t))
            case .endsWith: return .bool(s.hasSuffix(t))
            case .contains: return .bool(t.isEmpty || s.contains(t))
            default:
                do {
                    return .bool(try CELRegexCache.compile(t).matches(s))
                } catch {
                    throw fail("matches: '\(t)' is not a valid regular expression", node)
                }
            }
        case .timestamp:
            switch arguments[0] {
            case .string(let s):
                guard let micros = CELTime.parseTimestamp(s) else {
                    throw fail("timestamp(): '\(s)' is not an RFC 3339 time such as 2024-05-01T14:30:00Z", node)
                }
                return .timestamp(micros)
            case .int(let seconds): return .timestamp(seconds * 1_000_000)
            case .timestamp(let t): return .timestamp(t)
            case let other: throw fail("timestamp() needs a string or an int of seconds, not a \(other.typeName)", node)
            }
        case .duration:
            guard case .string(let s) = arguments[0], let micros = CELTime.parseDuration(s) else {
                throw fail("duration() needs a string such as \"90s\", \"1h30m\" or \"250ms\"", node)
            }
            return .duration(micros)
        case .getHours, .getMinutes, .getSeconds, .getDayOfWeek, .getDayOfMonth, .getDayOfYear, .getDate, .getMonth, .getFullYear:
            guard case .timestamp(let micros) = receiver else {
                throw fail("\(function.rawValue)() needs a timestamp, not a \(receiver?.typeName ?? "?"): wrap it in timestamp()", node)
            }
            var offset: Int64 = 0
            if let zone = arguments.first {
                guard case .string(let name) = zone, let seconds = CELTime.offsetSeconds(zone: name, at: micros) else {
                    throw fail("\(function.rawValue)(): not a time zone (use \"UTC\", \"+02:00\" or a name such as \"Europe/Paris\")", node)
                }
                offset = seconds
            }
            return .int(CELTime.field(function, micros: micros, offsetSeconds: offset))
        case .int:
            switch arguments[0] {
            case .int(let i): return .int(i)
            case .uint(let u) where u <= UInt64(Int64.max): return .int(Int64(u))
            case .double(let d) where d.isFinite && abs(d) < 9.2e18: return .int(Int64(d))
            case .string(let s) where Int64(s) != nil: return .int(Int64(s)!)
            case .decimal(let d) where d.doubleValue.isFinite && abs(d.doubleValue) < 9.2e18: return .int(Int64(d.doubleValue))
            case .timestamp(let t): return .int(t / 1_000_000)
            case let other: throw fail("int() cannot convert \(other)", node)
            }
        case .uint:
            switch arguments[0] {
            case .int(let i) where i >= 0: return .uint(UInt64(i))
            case .uint(let u): return .uint(u)
            case .string(let s) where UInt64(s) != nil: return .uint(UInt64(s)!)
            case let other: throw fail("uint() cannot convert \(other)", node)
            }
        case .double:
            guard let d = Self.doubleValue(arguments[0]) else { throw fail("double() cannot convert \(arguments[0])", node) }
            return .double(d)
        case .decimal:
            guard let d = arguments[0].exactNumber else { throw fail("decimal() cannot convert \(arguments[0])", node) }
            return .decimal(d)
        case .string:
            switch arguments[0] {
            case .string(let s): return .string(s)
            case .int(let i): return .string(String(i))
            case .uint(let u): return .string(String(u))
            case .double(let d): return .string(String(d))
            case .decimal(let d): return .string(d.description)
            case .bool(let b): return .string(String(b))
            case .timestamp(let t): return .string(CELTime.format(t))
            case let other: throw fail("string() cannot convert a \(other.typeName)", node)
            }
        }
    }
}
