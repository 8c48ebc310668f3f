/// The lexer: tokens, comments and whitespace, numbers and string literals with CEL's escapes.
extension CELParser {
    mutating func advance() throws(CELSyntaxError) {
        while position < bytes.count {
            if [0x20, 0x09, 0x0A, 0x0C, 0x0D].contains(bytes[position]) {
                position += 1
            } else if bytes[position] == UInt8(ascii: "/"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "/") {
                // A comment runs to the end of its line.
                while position < bytes.count, bytes[position] != 0x0A { position += 1 }
            } else {
                break
            }
        }
        tokenStart = position
        guard position < bytes.count else {
            token = .end
            return
        }
        let byte = bytes[position]
        if (byte == UInt8(ascii: "r") || byte == UInt8(ascii: "R")), position + 1 < bytes.count,
           bytes[position + 1] == UInt8(ascii: "'") || bytes[position + 1] == UInt8(ascii: "\"") {
            position += 1
            try lexString(quote: bytes[position], raw: true)
        } else if isIdentifierStart(byte) {
            var end = position
            while end < bytes.count, isIdentifierStart(bytes[end]) || isDigit(bytes[end]) { end += 1 }
            token = .identifier(String(decoding: bytes[position..<end], as: UTF8.self))
            position = end
        } else if isDigit(byte) || (byte == UInt8(ascii: ".") && position + 1 < bytes.count && isDigit(bytes[position + 1])) {
            try lexNumber()
        } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
            try lexString(quote: byte, raw: false)
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
                throw error("not a hexadecimal integer, or one past 64 bits")
            }
            if end < bytes.count, bytes[end] == UInt8(ascii: "u") || bytes[end] == UInt8(ascii: "U") {
                token = .uint(value)
                position = end + 1
                return
            }
            guard value <= UInt64(Int64.max) + 1 else { throw error("0x\(String(value, radix: 16, uppercase: true)) does not fit a 64-bit integer: write it with a u suffix for a uint") }
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
            token = .double(value, CELDecimal(parsing: text))
        } else {
            guard let value = UInt64(text), value <= UInt64(Int64.max) + 1 else { throw error("\(text) does not fit a 64-bit integer") }
            token = .int(value)
        }
        position = end
    }

    /// A string literal: '…', "…", the triple-quoted forms (which may span lines), and raw
    /// strings (r'…', no escapes). Escapes as CEL has them: \n \t \r \a \b \f \v \\ \' \" \` \?,
    /// \xHH, octal \ooo, \uHHHH and \UHHHHHHHH.
    mutating func lexString(quote: UInt8, raw: Bool) throws(CELSyntaxError) {
        let triple = position + 2 < bytes.count && bytes[position + 1] == quote && bytes[position + 2] == quote
        var end = position + (triple ? 3 : 1)
        var out: [UInt8] = []
        func closes(_ at: Int) -> Bool {
            guard bytes[at] == quote else { return false }
            return !triple || (at + 2 < bytes.count && bytes[at + 1] == quote && bytes[at + 2] == quote)
        }
        while end < bytes.count, !closes(end) {
            if bytes[end] == UInt8(ascii: "\\"), !raw, end + 1 < bytes.count {
                end += 1
                let c = bytes[end]
                switch c {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "a"): out.append(0x07)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "v"): out.append(0x0B)
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"), UInt8(ascii: "?"): out.append(c)
                case UInt8(ascii: "x"), UInt8(ascii: "X"), UInt8(ascii: "u"), UInt8(ascii: "U"), UInt8(ascii: "0")...UInt8(ascii: "3"):
                    let isOctal = c >= UInt8(ascii: "0") && c <= UInt8(ascii: "3")
                    let count = isOctal ? 3 : (c == UInt8(ascii: "u") ? 4 : (c == UInt8(ascii: "U") ? 8 : 2))
                    let start = isOctal ? end : end + 1
                    guard start + count <= bytes.count,
                          let value = UInt32(String(decoding: bytes[start..<(start + count)], as: UTF8.self), radix: isOctal ? 8 : 16)
                    else { throw error("a malformed escape '\\\(UnicodeScalar(c))' in a string", at: end - 1) }
                    if c == UInt8(ascii: "u") || c == UInt8(ascii: "U") {
                        guard let scalar = UnicodeScalar(value) else {
                            throw error("'\\\(UnicodeScalar(c))' escapes no Unicode character (a surrogate or past U+10FFFF)", at: end - 1)
                        }
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    } else {
                        // \x and octal escapes name a code point below 256, as in a CEL string.
                        out.append(contentsOf: Array(String(Character(UnicodeScalar(UInt8(truncatingIfNeeded: value)))).utf8))
                    }
                    end = start + count - 1
                default: throw error("unknown escape '\\\(UnicodeScalar(c))' in a string", at: end - 1)
                }
            } else if bytes[end] == 0x0A && !triple {
                throw error("a string ends at the end of the line without its closing quote")
            } else {
                out.append(bytes[end])
            }
            end += 1
        }
        guard end < bytes.count else { throw error("a string without its closing quote") }
        token = .string(String(decoding: out, as: UTF8.self))
        position = end + (triple ? 3 : 1)
    }

    func describe(_ token: Token) -> String {
        switch token {
        case .identifier(let name): "'\(name)'"
        case .int(let i): "\(i)"
        case .uint(let u): "\(u)u"
        case .double(let d, _): "\(d)"
        case .string(let s): "\"\(s)\""
        case .symbol(let s): "'\(s)'"
        case .end: "the end of the expression"
        }
    }

    mutating func expect(_ symbol: String, _ what: String) throws(CELSyntaxError) {
        guard token == .symbol(symbol) else { throw error("expected '\(symbol)' \(what), found \(describe(token))") }
        try advance()
    }
}
