/// Recursive descent over CEL's grammar, lowest precedence first:
/// `?:`, `||`, `&&`, relations (`== != < <= > >= in`), `+ -`, `* / %`, unary `! -`, member
/// access, calls and indexing, primaries.
struct CELParser {
    enum Token: Equatable {
        case identifier(String)
        /// A decimal integer's magnitude: its sign is a unary minus, and -2^63 must fit.
        case int(UInt64)
        case uint(UInt64)
        case double(Double)
        case string(String)
        case symbol(String)
        case end
    }

    let source: String
    let bytes: [UInt8]
    var position = 0
    var token: Token = .end
    var tokenStart = 0

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

    // MARK: lexer

    mutating func advance() throws(CELSyntaxError) {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        tokenStart = position
        guard position < bytes.count else {
            token = .end
            return
        }
        let byte = bytes[position]
        if isIdentifierStart(byte) {
            var end = position
            while end < bytes.count, isIdentifierStart(bytes[end]) || isDigit(bytes[end]) { end += 1 }
            token = .identifier(String(decoding: bytes[position..<end], as: UTF8.self))
            position = end
        } else if isDigit(byte) || (byte == UInt8(ascii: ".") && position + 1 < bytes.count && isDigit(bytes[position + 1])) {
            try lexNumber()
        } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
            try lexString(quote: byte)
        } else {
            let two = position + 1 < bytes.count ? String(decoding: bytes[position...(position + 1)], as: UTF8.self) : ""
            if ["==", "!=", "<=", ">=", "&&", "||"].contains(two) {
                token = .symbol(two)
                position += 2
            } else if "<>!+-*/%.,()[]{}?:".utf8.contains(byte) {
                token = .symbol(String(UnicodeScalar(byte)))
                position += 1
            } else if byte == UInt8(ascii: "=") {
                throw error("'=' is not an operator: compare with ==")
            } else if byte == UInt8(ascii: "&") || byte == UInt8(ascii: "|") {
                throw error("'\(UnicodeScalar(byte))' alone is not an operator: use \(byte == UInt8(ascii: "&") ? "&&" : "||")")
            } else {
                throw error("unexpected character '\(String(decoding: [byte], as: UTF8.self))'")
            }
        }
    }

    func isIdentifierStart(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || b == UInt8(ascii: "_")
    }

    func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    mutating func lexNumber() throws(CELSyntaxError) {
        var end = position
        if bytes[end] == UInt8(ascii: "0"), end + 1 < bytes.count, bytes[end + 1] == UInt8(ascii: "x") || bytes[end + 1] == UInt8(ascii: "X") {
            end += 2
            while end < bytes.count, isDigit(bytes[end]) || "abcdefABCDEF".utf8.contains(bytes[end]) { end += 1 }
            guard let value = UInt64(String(decoding: bytes[(position + 2)..<end], as: UTF8.self), radix: 16) else {
                throw error("not a hexadecimal integer")
            }
            token = .int(value)
            position = end
            return
        }
        var isDouble = false
        while end < bytes.count, isDigit(bytes[end]) { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "."), end + 1 < bytes.count, isDigit(bytes[end + 1]) {
            isDouble = true
            end += 1
            while end < bytes.count, isDigit(bytes[end]) { end += 1 }
        }
        if end < bytes.count, bytes[end] == UInt8(ascii: "e") || bytes[end] == UInt8(ascii: "E") {
            isDouble = true
            end += 1
            if end < bytes.count, bytes[end] == UInt8(ascii: "+") || bytes[end] == UInt8(ascii: "-") { end += 1 }
            while end < bytes.count, isDigit(bytes[end]) { end += 1 }
        }
        let text = String(decoding: bytes[position..<end], as: UTF8.self)
        if !isDouble, end < bytes.count, bytes[end] == UInt8(ascii: "u") || bytes[end] == UInt8(ascii: "U") {
            guard let value = UInt64(text) else { throw error("\(text)u does not fit an unsigned 64-bit integer") }
            token = .uint(value)
            position = end + 1
            return
        }
        if isDouble {
            guard let value = Double(text) else { throw error("\(text) is not a number") }
            token = .double(value)
        } else {
            guard let value = UInt64(text), value <= UInt64(Int64.max) + 1 else { throw error("\(text) does not fit a 64-bit integer") }
            token = .int(value)
        }
        position = end
    }

    mutating func lexString(quote: UInt8) throws(CELSyntaxError) {
        var end = position + 1
        var out: [UInt8] = []
        while end < bytes.count, bytes[end] != quote {
            if bytes[end] == UInt8(ascii: "\\"), end + 1 < bytes.count {
                end += 1
                switch bytes[end] {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): out.append(bytes[end])
                default: throw error("unknown escape '\\\(UnicodeScalar(bytes[end]))' in a string", at: end - 1)
                }
            } else if bytes[end] == 0x0A {
                throw error("a string ends at the end of the line without its closing quote")
            } else {
                out.append(bytes[end])
            }
            end += 1
        }
        guard end < bytes.count else { throw error("a string without its closing quote") }
        token = .string(String(decoding: out, as: UTF8.self))
        position = end + 1
    }

    func describe(_ token: Token) -> String {
        switch token {
        case .identifier(let name): "'\(name)'"
        case .int(let i): "\(i)"
        case .uint(let u): "\(u)u"
        case .double(let d): "\(d)"
        case .string(let s): "\"\(s)\""
        case .symbol(let s): "'\(s)'"
        case .end: "the end of the expression"
        }
    }

    mutating func expect(_ symbol: String, _ what: String) throws(CELSyntaxError) {
        guard token == .symbol(symbol) else { throw error("expected '\(symbol)' \(what), found \(describe(token))") }
        try advance()
    }

    // MARK: grammar

    mutating func parseExpression() throws(CELSyntaxError) -> CELNode {
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
            left = CELNode(kind: .or(left, try parseAnd()), offset: start)
        }
        return left
    }

    mutating func parseAnd() throws(CELSyntaxError) -> CELNode {
        var left = try parseRelation()
        while token == .symbol("&&") {
            let start = tokenStart
            try advance()
            left = CELNode(kind: .and(left, try parseRelation()), offset: start)
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
            left = CELNode(kind: .binary(op, left, try parseAddition()), offset: start)
        }
    }

    mutating func parseAddition() throws(CELSyntaxError) -> CELNode {
        var left = try parseMultiplication()
        while case .symbol(let s) = token, s == "+" || s == "-" {
            let start = tokenStart
            try advance()
            left = CELNode(kind: .binary(s == "+" ? .add : .subtract, left, try parseMultiplication()), offset: start)
        }
        return left
    }

    mutating func parseMultiplication() throws(CELSyntaxError) -> CELNode {
        var left = try parseUnary()
        while case .symbol(let s) = token, s == "*" || s == "/" || s == "%" {
            let start = tokenStart
            try advance()
            left = CELNode(kind: .binary(CELBinaryOperator(rawValue: s)!, left, try parseUnary()), offset: start)
        }
        return left
    }

    mutating func parseUnary() throws(CELSyntaxError) -> CELNode {
        let start = tokenStart
        if token == .symbol("!") {
            try advance()
            return CELNode(kind: .not(try parseUnary()), offset: start)
        }
        if token == .symbol("-") {
            try advance()
            // A negative literal is a literal (-9223372036854775808 fits only this way).
            if case .int(let magnitude) = token {
                try advance()
                let value = magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
                return try parseMemberTail(CELNode(kind: .literal(.int(value)), offset: start))
            }
            if case .double(let d) = token {
                try advance()
                return try parseMemberTail(CELNode(kind: .literal(.double(-d)), offset: start))
            }
            return CELNode(kind: .negate(try parseUnary()), offset: start)
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
                    node = try parseCall(name, target: node, at: start)
                } else {
                    node = CELNode(kind: .select(node, name), offset: start)
                }
            } else if token == .symbol("[") {
                let start = tokenStart
                try advance()
                let index = try parseExpression()
                try expect("]", "to close the index")
                node = CELNode(kind: .index(node, index), offset: start)
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
        if function == .matches, case .literal(.string(let pattern)) = arguments[0].kind {
            // A literal pattern is checked at load.
            do {
                _ = try CELRegexCache.compile(pattern)
            } catch {
                throw self.error("matches: '\(pattern)' is not a valid regular expression", at: arguments[0].offset)
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
        case .double(let d):
            try advance()
            return CELNode(kind: .literal(.double(d)), offset: start)
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
                if case .literal(let value) = element.kind { return value }
                return nil
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
