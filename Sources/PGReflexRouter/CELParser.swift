/// Recursive descent over CEL's grammar, lowest precedence first:
/// `?:`, `||`, `&&`, relations (`== != < <= > >= in`), `+ -`, `* / %`, unary `! -`, member
/// access, calls and indexing, primaries.
struct CELParser {
    enum Token: Equatable {
        case identifier(String)
        /// A decimal integer's magnitude: its sign is a unary minus, and -2^63 must fit.
        case int(UInt64)
        case uint(UInt64)
        /// A double and the exact decimal its text is, when it has one.
        case double(Double, CELDecimal?)
        case string(String)
        case symbol(String)
        case end
    }

    let source: String
    let bytes: [UInt8]
    var position = 0
    var token: Token = .end
    var tokenStart = 0
    /// How deep the parse is: expressions come from files, and evaluation recurses as deep as
    /// the tree, so nesting has a limit well past any condition a person writes (CEL asks
    /// for 12 levels and 24 repetitions; 32 each is the spec's bar for parsers).
    var depth = 0
    static let maxDepth = 100
    /// The tallest tree evaluation may recurse through (a chain `a + b + c …` is as tall as it
    /// is long).
    static let maxHeight = 256

    func bounded(_ node: CELNode) throws(CELSyntaxError) -> CELNode {
        guard node.height <= Self.maxHeight else {
            throw error("the expression is more than \(Self.maxHeight) operations deep: split it", at: node.offset)
        }
        return node
    }

    init(source: String) {
        self.source = source
        bytes = Array(source.utf8)
    }

    func error(_ message: String, at offset: Int? = nil) -> CELSyntaxError {
        CELSyntaxError(message, at: offset ?? tokenStart, in: source)
    }

    mutating func parseAll() throws(CELSyntaxError) -> CELNode {
        try advance()
        if token == .end { throw error("the expression is empty") }
        let node = try parseExpression()
        guard token == .end else { throw error("unexpected \(describe(token)) after a complete expression") }
        return node
    }

    // MARK: grammar

    mutating func parseExpression() throws(CELSyntaxError) -> CELNode {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw error("the expression nests more than \(Self.maxDepth) levels deep: split it") }
        let condition = try parseOr()
        guard token == .symbol("?") else { return condition }
        let start = tokenStart
        try advance()
        let then = try parseOr()
        try expect(":", "between the branches of ?:")
        let otherwise = try parseExpression()
        return CELNode(kind: .conditional(condition, then, otherwise), offset: start)
    }

    mutating func parseOr() throws(CELSyntaxError) -> CELNode {
        var left = try parseAnd()
        while token == .symbol("||") {
            let start = tokenStart
            try advance()
            left = try bounded(CELNode(kind: .or(left, try parseAnd()), offset: start))
        }
        return left
    }

    mutating func parseAnd() throws(CELSyntaxError) -> CELNode {
        var left = try parseRelation()
        while token == .symbol("&&") {
            let start = tokenStart
            try advance()
            left = try bounded(CELNode(kind: .and(left, try parseRelation()), offset: start))
        }
        return left
    }

    mutating func parseRelation() throws(CELSyntaxError) -> CELNode {
        var left = try parseAddition()
        while true {
            let op: CELBinaryOperator
            switch token {
            case .symbol(let s) where ["==", "!=", "<", "<=", ">", ">="].contains(s): op = CELBinaryOperator(rawValue: s)!
            case .identifier("in"): op = .in
            default: return left
            }
            let start = tokenStart
            try advance()
            left = try bounded(CELNode(kind: .binary(op, left, try parseAddition()), offset: start))
        }
    }

    mutating func parseAddition() throws(CELSyntaxError) -> CELNode {
        var left = try parseMultiplication()
        while case .symbol(let s) = token, s == "+" || s == "-" {
            let start = tokenStart
            try advance()
            left = try bounded(CELNode(kind: .binary(s == "+" ? .add : .subtract, left, try parseMultiplication()), offset: start))
        }
        return left
    }

    mutating func parseMultiplication() throws(CELSyntaxError) -> CELNode {
        var left = try parseUnary()
        while case .symbol(let s) = token, s == "*" || s == "/" || s == "%" {
            let start = tokenStart
            try advance()
            left = try bounded(CELNode(kind: .binary(CELBinaryOperator(rawValue: s)!, left, try parseUnary()), offset: start))
        }
        return left
    }

    mutating func parseUnary() throws(CELSyntaxError) -> CELNode {
        let start = tokenStart
        if token == .symbol("!") || token == .symbol("-") {
            depth += 1
            guard depth <= Self.maxDepth else { throw error("the expression nests more than \(Self.maxDepth) levels deep: split it") }
        }
        if token == .symbol("!") {
            try advance()
            defer { depth -= 1 }
            return try bounded(CELNode(kind: .not(try parseUnary()), offset: start))
        }
        if token == .symbol("-") {
            try advance()
            defer { depth -= 1 }
            // A negative literal is a literal (-9223372036854775808 fits only this way).
            if case .int(let magnitude) = token {
                guard let value = magnitude == UInt64(Int64.max) + 1 ? Int64.min : Int64(exactly: magnitude).map({ -$0 }) else {
                    throw error("-\(magnitude) does not fit a 64-bit integer")
                }
                try advance()
                return try parseMemberTail(CELNode(kind: .literal(.int(value)), offset: start))
            }
            if case .double(let d, let exact) = token {
                try advance()
                return try parseMemberTail(CELNode(kind: .doubleLiteral(-d, exact?.negated), offset: start))
            }
            return try bounded(CELNode(kind: .negate(try parseUnary()), offset: start))
        }
        return try parseMemberTail(try parsePrimary())
    }

    mutating func parseMemberTail(_ operand: CELNode) throws(CELSyntaxError) -> CELNode {
        var node = operand
        while true {
            if token == .symbol(".") {
                try advance()
                guard case .identifier(let name) = token else { throw error("expected a field or method name after '.', found \(describe(token))") }
                let start = tokenStart
                try advance()
                if token == .symbol("(") {
                    node = try bounded(try parseCall(name, target: node, at: start))
                } else {
                    node = try bounded(CELNode(kind: .select(node, name), offset: start))
                }
            } else if token == .symbol("[") {
                let start = tokenStart
                try advance()
                let index = try parseExpression()
                try expect("]", "to close the index")
                node = try bounded(CELNode(kind: .index(node, index), offset: start))
            } else {
                return node
            }
        }
    }

    mutating func parseArguments() throws(CELSyntaxError) -> [CELNode] {
        try expect("(", "to open the arguments")
        var arguments: [CELNode] = []
        while token != .symbol(")") {
            arguments.append(try parseExpression())
            if token == .symbol(",") { try advance() } else { break }
        }
        try expect(")", "to close the arguments")
        return arguments
    }

    mutating func parseCall(_ name: String, target: CELNode?, at start: Int) throws(CELSyntaxError) -> CELNode {
        guard let function = CELFunction(rawValue: name) else {
            throw error("unknown function '\(name)'; the functions are \(CELFunction.allCases.map(\.rawValue).joined(separator: ", ")) and has()",
                        at: start)
        }
        var arguments = try parseArguments()
        var receiver = target
        let isMethod = [.startsWith, .endsWith, .contains, .matches].contains(function) || function.rawValue.hasPrefix("get")
        // Their global forms take the receiver first: matches(s, re), getHours(t).
        if receiver == nil && isMethod {
            guard !arguments.isEmpty else { throw error("\(name)() needs a value to work on", at: start) }
            receiver = arguments.removeFirst()
        }
        if !isMethod && function != .size && target != nil {
            throw error("\(name) is a function, not a method: write \(name)(value)", at: start)
        }
        let allowed: ClosedRange<Int> = switch function {
        case .size: target == nil ? 1...1 : 0...0
        case .startsWith, .endsWith, .contains, .matches: 1...1
        default: function.arity
        }
        guard allowed.contains(arguments.count) else {
            let expected = allowed.lowerBound == allowed.upperBound ? "\(allowed.lowerBound)" : "\(allowed.lowerBound) or \(allowed.upperBound)"
            throw error("\(name) takes \(expected) argument\(allowed.upperBound == 1 ? "" : "s") here, not \(arguments.count)", at: start)
        }
        if function == .matches, let receiver, case .literal(.string(let pattern)) = arguments[0].kind {
            // A literal pattern is compiled once, at load, and an invalid one is a load error.
            do {
                return CELNode(kind: .regexMatch(receiver, try CELRegex(pattern)), offset: start)
            } catch {
                throw self.error("matches: '\(pattern)' is not a valid RE2 pattern (\(error.message)); RE2 has no backreferences or lookaround",
                                 at: arguments[0].offset)
            }
        }
        return CELNode(kind: .call(function, target: receiver, arguments), offset: start)
    }

    mutating func parsePrimary() throws(CELSyntaxError) -> CELNode {
        let start = tokenStart
        switch token {
        case .int(let magnitude):
            guard magnitude <= UInt64(Int64.max) else { throw error("\(magnitude) does not fit a 64-bit integer") }
            try advance()
            return CELNode(kind: .literal(.int(Int64(magnitude))), offset: start)
        case .uint(let u):
            try advance()
            return CELNode(kind: .literal(.uint(u)), offset: start)
        case .double(let d, let exact):
            try advance()
            return CELNode(kind: .doubleLiteral(d, exact), offset: start)
        case .string(let s):
            try advance()
            return CELNode(kind: .literal(.string(s)), offset: start)
        case .identifier(let name):
            try advance()
            switch name {
            case "true": return CELNode(kind: .literal(.bool(true)), offset: start)
            case "false": return CELNode(kind: .literal(.bool(false)), offset: start)
            case "null": return CELNode(kind: .literal(.null), offset: start)
            case "in": throw error("'in' needs a value on its left", at: start)
            default: break
            }
            guard token == .symbol("(") else { return CELNode(kind: .identifier(name), offset: start) }
            if name == "has" {
                let arguments = try parseArguments()
                guard arguments.count == 1, case .select(let operand, let field) = arguments[0].kind else {
                    throw error("has() takes one field selection, such as has(after.discount)", at: start)
                }
                return CELNode(kind: .has(operand, field), offset: start)
            }
            return try parseCall(name, target: nil, at: start)
        case .symbol("("):
            try advance()
            let inner = try parseExpression()
            try expect(")", "to close the parenthesis")
            return inner
        case .symbol("["):
            try advance()
            var elements: [CELNode] = []
            while token != .symbol("]") {
                elements.append(try parseExpression())
                if token == .symbol(",") { try advance() } else { break }
            }
            try expect("]", "to close the list")
            // A list of literals is built once, at load (`op in ['c', 'u']` allocates nothing per event).
            let literals = elements.compactMap { element -> CELValue? in
                switch element.kind {
                case .literal(let value): value
                case .doubleLiteral(let value, _): .double(value)
                default: nil
                }
            }
            if literals.count == elements.count { return CELNode(kind: .literal(.list(literals)), offset: start) }
            return CELNode(kind: .list(elements), offset: start)
        case .symbol("{"):
            try advance()
            var entries: [(CELNode, CELNode)] = []
            while token != .symbol("}") {
                let key = try parseExpression()
                try expect(":", "between a map key and its value")
                entries.append((key, try parseExpression()))
                if token == .symbol(",") { try advance() } else { break }
            }
            try expect("}", "to close the map")
            return CELNode(kind: .map(entries), offset: start)
        default:
            throw error("expected a value, a field or '(', found \(describe(token))")
        }
    }
}
