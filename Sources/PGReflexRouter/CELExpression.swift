/// A parsed expression of the CEL subset (docs/routing.md): parsed once at load, evaluated per
/// event. Every node keeps its offset in the source, for errors that point at the place.
public struct CELExpression: Sendable {
    public let source: String
    let root: CELNode

    /// Parses `source`; throws ``CELSyntaxError`` naming the line, column and what was expected.
    public init(_ source: String) throws(CELSyntaxError) {
        self.source = source
        var parser = CELParser(source: source)
        root = try parser.parseAll()
    }
}

/// A node of the syntax tree.
struct CELNode: Sendable {
    indirect enum Kind: Sendable {
        case literal(CELValue)
        /// A double literal, with the exact decimal it is written as (nil past 38 digits): next
        /// to a decimal it compares as that decimal.
        case doubleLiteral(Double, CELDecimal?)
        /// `operand.matches('literal pattern')`, compiled once at load.
        case regexMatch(CELNode, CELRegex)
        case identifier(String)
        /// `operand.field`
        case select(CELNode, String)
        /// `has(operand.field)`
        case has(CELNode, String)
        case index(CELNode, CELNode)
        /// A function, as `f(args)` or `target.f(args)`.
        case call(CELFunction, target: CELNode?, [CELNode])
        case not(CELNode)
        case negate(CELNode)
        case binary(CELBinaryOperator, CELNode, CELNode)
        case and(CELNode, CELNode)
        case or(CELNode, CELNode)
        case conditional(CELNode, CELNode, CELNode)
        case list([CELNode])
        case map([(CELNode, CELNode)])
    }

    var kind: Kind
    /// UTF-8 offset in the source.
    var offset: Int
    /// The longest path to a leaf: evaluation recurses this deep, so the parser bounds it.
    var height: Int

    init(kind: Kind, offset: Int) {
        self.kind = kind
        self.offset = offset
        let children: Int = switch kind {
        case .literal, .doubleLiteral, .identifier: 0
        case .select(let a, _), .has(let a, _), .not(let a), .negate(let a), .regexMatch(let a, _): a.height
        case .index(let a, let b), .binary(_, let a, let b), .and(let a, let b), .or(let a, let b): max(a.height, b.height)
        case .call(_, let target, let arguments): max(target?.height ?? 0, arguments.map(\.height).max() ?? 0)
        case .conditional(let a, let b, let c): max(a.height, b.height, c.height)
        case .list(let elements): elements.map(\.height).max() ?? 0
        case .map(let entries): entries.map { max($0.0.height, $0.1.height) }.max() ?? 0
        }
        height = children + 1
    }
}

enum CELBinaryOperator: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
    case `in`
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"
}

/// The functions the subset knows; an unknown name is a syntax error at load, not a surprise
/// per event.
enum CELFunction: String, Sendable, CaseIterable {
    case size, startsWith, endsWith, contains, matches
    case timestamp, duration
    case getHours, getMinutes, getSeconds, getMilliseconds, getDayOfWeek, getDayOfMonth, getDayOfYear, getDate, getMonth, getFullYear
    case int, uint, double, string, decimal, bool, dyn

    /// How many arguments it takes, besides its target when called as a method.
    var arity: ClosedRange<Int> {
        switch self {
        case .size, .int, .uint, .double, .string, .decimal, .bool, .dyn, .timestamp, .duration: 1...1
        case .startsWith, .endsWith, .contains, .matches: 1...2
        case .getHours, .getMinutes, .getSeconds, .getMilliseconds, .getDayOfWeek, .getDayOfMonth, .getDayOfYear, .getDate, .getMonth, .getFullYear: 0...1
        }
    }
}

/// A mistake in an expression, with where it is.
public struct CELSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// UTF-8 offset, and the 1-based line and column it falls on.
    public var offset: Int
    public var line: Int
    public var column: Int
    public var message: String

    init(_ message: String, at offset: Int, in source: String) {
        self.offset = offset
        self.message = message
        var line = 1
        var column = 1
        for (i, byte) in source.utf8.enumerated() where i < offset {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column): \(message)" }
}
