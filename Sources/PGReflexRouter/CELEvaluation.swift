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
        case .doubleLiteral(let value, _):
            return .double(value)
        case .regexMatch(let operand, let regex):
            let value = try eval(operand)
            guard case .string(let text) = value else { throw fail("matches needs a string, not a \(value.typeName)", node) }
            return .bool(regex.matches(text))
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
            case (.list(let list), .int(_)), (.list(let list), .uint(_)), (.list(let list), .double(_)):
                // CEL indexes lists by int, uint, or a double with no fraction.
                let position: Int? = switch index {
                case .int(let i): Int(exactly: i)
                case .uint(let u): Int(exactly: u)
                case .double(let d): Int(exactly: d)
                default: nil
                }
                guard let i = position, i >= 0 && i < list.count else { throw fail("index \(index) is outside a list of \(list.count)", node) }
                return list[i]
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
            case .duration(let d):
                guard d != .min else { throw fail("duration out of range", node) }
                return .duration(-d)
            case .decimal(let d):
                guard let negated = d.negated else { throw fail("decimal overflow", node) }
                return .decimal(negated)
            case .string(let s) where CELDecimal(parsing: s) != nil:
                guard let negated = CELDecimal(parsing: s)?.negated else { throw fail("decimal overflow", node) }
                return .decimal(negated)
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
            var a = try eval(lhs)
            var b = try eval(rhs)
            // A literal such as 19.99 next to a decimal (a numeric column's string) is the decimal
            // it is written as, not the nearest double: "19.99" == 19.99, "19.99" > 19.99 is false.
            if case .doubleLiteral(_, let exact?) = rhs.kind, a.isDecimalLike { b = .decimal(exact) }
            if case .doubleLiteral(_, let exact?) = lhs.kind, b.isDecimalLike { a = .decimal(exact) }
            return try binary(op, a, b, node)
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
        case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
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
        // Code points, not Swift's canonical equivalence: CEL does not normalize ('é' != 'e\u0301').
        case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8) ? 0 : (x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1)
        case (.bool(let x), .bool(let y)): return x == y ? 0 : (!x ? -1 : 1)
        case (.timestamp(let x), .timestamp(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        case (.duration(let x), .duration(let y)): return x == y ? 0 : (x < y ? -1 : 1)
        default: return a.isNumber || b.isNumber ? compareNumbers(a, b) : nil
        }
    }

    static func compareNumbers(_ a: CELValue, _ b: CELValue) -> Int? {
        if let x = a.exactNumber, let y = b.exactNumber {
            return x == y ? 0 : (x < y ? -1 : 1)
        }
        // An integer and a double compare as doubles, as CEL's conformance cases have it.
        guard let x = doubleValue(a), let y = doubleValue(b), !x.isNaN, !y.isNaN else { return nil }
        return x == y ? 0 : (x < y ? -1 : 1)
    }

    /// A number as a double, correctly rounded (a decimal string goes through strtod, as
    /// `double('123.456')` must give the double nearest 123.456).
    static func doubleValue(_ value: CELValue) -> Double? {
        switch value {
        case .double(let d): d
        case .int(let i): Double(i)
        case .uint(let u): Double(u)
        case .decimal(let d): d.doubleValue
        case .string(let s): CELDecimal(parsing: s) != nil ? Double(s.trimmingPlus) : nil
        default: nil
        }
    }

    func arithmetic(_ op: CELBinaryOperator, _ a: CELValue, _ b: CELValue, _ node: CELNode) throws(CELEvaluationError) -> CELValue {
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)): return .string(x + y)
        case (.add, .list(let x), .list(let y)): return .list(x + y)
        case (.add, .timestamp(let t), .duration(let d)), (.add, .duration(let d), .timestamp(let t)):
            return .timestamp(try inRange(CELTime.timestamp(nanos: t + Int128(d)), "timestamp", node))
        case (.subtract, .timestamp(let t), .duration(let d)):
            return .timestamp(try inRange(CELTime.timestamp(nanos: t - Int128(d)), "timestamp", node))
        case (.subtract, .timestamp(let x), .timestamp(let y)):
            return .duration(try inRange(CELTime.duration(nanos: x - y), "duration", node))
        case (.add, .duration(let x), .duration(let y)):
            return .duration(try inRange(CELTime.duration(nanos: Int128(x) + Int128(y)), "duration", node))
        case (.subtract, .duration(let x), .duration(let y)):
            return .duration(try inRange(CELTime.duration(nanos: Int128(x) - Int128(y)), "duration", node))
        case (_, .int(let x), .int(let y)):
            return .int(try integer(op, x, y, node))
        case (_, .uint(let x), .uint(let y)):
            return .uint(try integer(op, x, y, node))
        case (_, .int, .uint), (_, .uint, .int):
            // CEL has no mixed int and uint arithmetic: convert one side with int() or uint().
            break
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
            if op == .add || op == .subtract || op == .multiply { throw fail("decimal overflow (more than 38 digits)", node) }
            if op == .divide {
                guard y.doubleValue != 0 else { throw fail("division by zero", node) }
                return .double(x.doubleValue / y.doubleValue)
            }
        }
        throw fail("cannot apply \(op.rawValue) to a \(a.typeName) and a \(b.typeName)", node)
    }

    /// Substring search on UTF-8 bytes in linear time (Knuth–Morris–Pratt), whatever a row holds:
    /// a naive search is quadratic on 'aaaa…' against 'aaa…b'.
    static func contains(_ s: String, _ t: String) -> Bool {
        let needle = Array(t.utf8)
        if needle.isEmpty { return true }
        var failure = [Int](repeating: 0, count: needle.count)
        var k = 0
        for i in 1..<max(1, needle.count) {
            while k > 0 && needle[i] != needle[k] { k = failure[k - 1] }
            if needle[i] == needle[k] { k += 1 }
            failure[i] = k
        }
        var matched = 0
        for byte in s.utf8 {
            while matched > 0 && byte != needle[matched] { matched = failure[matched - 1] }
            if byte == needle[matched] { matched += 1 }
            if matched == needle.count { return true }
        }
        return false
    }

    /// `int` and `uint` arithmetic: every overflow, and a zero divisor, is an error.
    func integer<T: FixedWidthInteger>(_ op: CELBinaryOperator, _ x: T, _ y: T, _ node: CELNode) throws(CELEvaluationError) -> T {
        if (op == .divide || op == .remainder) && y == 0 { throw fail(op == .divide ? "division by zero" : "modulus by zero", node) }
        let (result, overflow): (T, Bool) = switch op {
        case .add: x.addingReportingOverflow(y)
        case .subtract: x.subtractingReportingOverflow(y)
        case .multiply: x.multipliedReportingOverflow(by: y)
        case .divide: x.dividedReportingOverflow(by: y)
        default: x.remainderReportingOverflow(dividingBy: y)
        }
        if overflow { throw fail(T.isSigned ? "integer overflow" : "unsigned integer overflow", node) }
        return result
    }

    /// A time value that is in range, or CEL's range error.
    func inRange<T>(_ value: T?, _ what: String, _ node: CELNode) throws(CELEvaluationError) -> T {
        guard let value else { throw fail("\(what) out of range", node) }
        return value
    }
}

extension CELValue {
    /// A decimal, or a string that reads as one: what a double literal beside it is read as.
    var isDecimalLike: Bool {
        switch self {
        case .decimal: true
        case .string(let s): CELDecimal(parsing: s) != nil
        default: false
        }
    }
}

extension String {
    /// Swift's Double(String) refuses a leading '+' that strtod and CEL's decimals accept.
    var trimmingPlus: Substring {
        first == "+" ? dropFirst() : self[...]
    }
}
