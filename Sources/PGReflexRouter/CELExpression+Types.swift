/// What `pgreflex check` can know of an expression's type before any row arrives: from its
/// literals, operators and functions, and (with a schema registry) its columns' types. `dyn` is
/// what depends on the row.
public enum CELStaticType: String, Sendable, Equatable {
    case bool, int, uint, double, string, timestamp, duration, list, map, null, dyn
}

/// A finding of the type pass, at a UTF-8 offset of the expression.
public struct CELTypeFinding: Sendable, Equatable {
    public enum Severity: Sendable, Equatable { case error, warning }

    public var severity: Severity
    public var offset: Int
    public var message: String
}

extension CELExpression {
    /// The expression's type; `columnTypes` gives the columns' types (`dyn` when absent).
    public func staticType(columnTypes: [String: CELStaticType] = [:]) -> CELStaticType {
        var findings: [CELTypeFinding] = []
        return CELTypePass(columnTypes: columnTypes).type(of: root, findings: &findings)
    }

    /// The findings for a route's `if`: an error where a bool is needed (the whole, or an
    /// operand of `!`, `&&`, `||`, `?:`) and the type is known to be another; a warning when the
    /// whole's type depends on the row, so that only `route test` can tell.
    public func conditionFindings(columnTypes: [String: CELStaticType] = [:]) -> [CELTypeFinding] {
        var findings: [CELTypeFinding] = []
        let type = CELTypePass(columnTypes: columnTypes).type(of: root, findings: &findings)
        switch type {
        case .bool: break
        case .dyn:
            findings.append(CELTypeFinding(severity: .warning, offset: root.offset,
                message: "check cannot tell whether the condition is a bool: its value depends on the row (pass --registry for the columns' types, or try it with `pgreflex route test`)"))
        default:
            findings.append(CELTypeFinding(severity: .error, offset: root.offset,
                message: "the condition is a \(type.rawValue), not a bool: compare it, e.g. \(CELTypePass.example(for: type))"))
        }
        return findings
    }
}

/// One walk over the tree; recursion is bounded by the parser's nesting limit.
struct CELTypePass {
    let columnTypes: [String: CELStaticType]

    func type(of node: CELNode, findings: inout [CELTypeFinding]) -> CELStaticType {
        switch node.kind {
        case .literal(let value):
            switch value {
            case .null: return .null
            case .bool: return .bool
            case .int: return .int
            case .uint: return .uint
            case .double: return .double
            case .decimal: return .dyn
            case .string: return .string
            case .list: return .list
            case .map: return .map
            case .timestamp: return .timestamp
            case .duration: return .duration
            }
        case .doubleLiteral: return .double
        case .regexMatch(let operand, _):
            _ = type(of: operand, findings: &findings)
            return .bool
        case .identifier: return .dyn
        case .select(let operand, let field):
            if operand.rowImage != nil { return columnTypes[field] ?? .dyn }
            _ = type(of: operand, findings: &findings)
            return .dyn
        case .has: return .bool
        case .index(let a, let b):
            _ = type(of: a, findings: &findings)
            _ = type(of: b, findings: &findings)
            return .dyn
        case .call(let function, let target, let arguments):
            if let target { _ = type(of: target, findings: &findings) }
            for argument in arguments { _ = type(of: argument, findings: &findings) }
            switch function {
            case .size, .int, .getHours, .getMinutes, .getSeconds, .getMilliseconds, .getDayOfWeek, .getDayOfMonth, .getDayOfYear,
                 .getDate, .getMonth, .getFullYear: return .int
            case .startsWith, .endsWith, .contains, .matches, .bool: return .bool
            case .timestamp: return .timestamp
            case .duration: return .duration
            case .uint: return .uint
            case .double: return .double
            case .string: return .string
            case .decimal, .dyn: return .dyn
            }
        case .not(let operand):
            requireBool(operand, "the operand of !", findings: &findings)
            return .bool
        case .negate(let operand):
            let inner = type(of: operand, findings: &findings)
            return [.int, .double, .duration].contains(inner) ? inner : .dyn
        case .binary(let op, let a, let b):
            let left = type(of: a, findings: &findings)
            let right = type(of: b, findings: &findings)
            switch op {
            case .less, .lessOrEqual, .greater, .greaterOrEqual:
                if let problem = Self.orderingProblem(left, right) {
                    findings.append(CELTypeFinding(severity: .error, offset: node.offset, message: problem))
                }
                return .bool
            case .equal, .notEqual, .in: return .bool
            case .add, .subtract, .multiply, .divide, .remainder:
                if left == .timestamp, right == .timestamp, op == .subtract { return .duration }
                if left == .timestamp || right == .timestamp, left == .duration || right == .duration { return .timestamp }
                guard left == right, left != .dyn else { return .dyn }
                return [.int, .uint, .double, .duration].contains(left) || (op == .add && [.string, .list].contains(left)) ? left : .dyn
            }
        case .and(let a, let b):
            requireBool(a, "the left operand of &&", findings: &findings)
            requireBool(b, "the right operand of &&", findings: &findings)
            return .bool
        case .or(let a, let b):
            requireBool(a, "the left operand of ||", findings: &findings)
            requireBool(b, "the right operand of ||", findings: &findings)
            return .bool
        case .conditional(let condition, let a, let b):
            requireBool(condition, "the condition of ?:", findings: &findings)
            let left = type(of: a, findings: &findings)
            let right = type(of: b, findings: &findings)
            return left == right ? left : .dyn
        case .list(let elements):
            for element in elements { _ = type(of: element, findings: &findings) }
            return .list
        case .map(let entries):
            for (k, v) in entries {
                _ = type(of: k, findings: &findings)
                _ = type(of: v, findings: &findings)
            }
            return .map
        }
    }

    /// Why `left < right` has no value, when both types are known: a column whose type changed
    /// to text under a comparison with a number is the common case.
    static func orderingProblem(_ left: CELStaticType, _ right: CELStaticType) -> String? {
        let numbers: Set<CELStaticType> = [.int, .uint, .double]
        guard left != .dyn, right != .dyn, left != right, !(numbers.contains(left) && numbers.contains(right)) else { return nil }
        if (left == .string && numbers.contains(right)) || (right == .string && numbers.contains(left)) {
            return "it orders a string and a number (\(left.rawValue) and \(right.rawValue)): that has a value only while the text is a number; "
                + "convert it (double(x) > 500.0), or check the column's type"
        }
        return "a \(left.rawValue) and a \(right.rawValue) cannot be ordered: compare values of one type"
    }

    private func requireBool(_ node: CELNode, _ role: String, findings: inout [CELTypeFinding]) {
        let found = type(of: node, findings: &findings)
        guard found != .bool, found != .dyn else { return }
        findings.append(CELTypeFinding(severity: .error, offset: node.offset,
            message: "\(role) is a \(found.rawValue), not a bool: compare it, e.g. \(Self.example(for: found))"))
    }

    static func example(for type: CELStaticType) -> String {
        switch type {
        case .string: "x != \"\" or double(x) > 500.0"
        case .int, .uint: "x > 0"
        case .double: "x > 0.0"
        case .list, .map: "size(x) > 0"
        case .null: "x == null"
        default: "x == y"
        }
    }
}
