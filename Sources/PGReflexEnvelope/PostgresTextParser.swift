/// Reads the text forms of arrays, records and hstore values and writes them as JSON. Each
/// method returns false when the text is not in the form it expects; the caller then writes
/// the text as a string, so nothing is lost.
struct PostgresTextParser {
    let text: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ text: UnsafeBufferPointer<UInt8>) {
        self.text = text
    }

    var atEnd: Bool { index >= text.count }
    var current: UInt8 { text[index] }

    /// `{1,2,NULL}`, `{{1,2},{3,4}}`, `{"a b","c\"d"}`, with an optional `[0:1]=` bounds prefix.
    mutating func writeArray(element: ValueKind, delimiter: UInt8, decimal: DecimalHandling, into writer: inout JSONWriter) -> Bool {
        if !atEnd, current == UInt8(ascii: "[") {
            // Explicit lower bounds: JSON arrays have none, so they are dropped.
            while !atEnd, current != UInt8(ascii: "=") { index += 1 }
            index += 1
        }
        let start = writer.bytes.count
        guard writeArrayLevel(element: element, delimiter: delimiter, decimal: decimal, into: &writer), atEnd else {
            writer.bytes.removeSubrange(start...)
            return false
        }
        return true
    }

    private mutating func writeArrayLevel(element: ValueKind, delimiter: UInt8, decimal: DecimalHandling,
                                          into writer: inout JSONWriter) -> Bool {
        guard !atEnd, current == UInt8(ascii: "{") else { return false }
        index += 1
        writer.raw(UInt8(ascii: "["))
        if !atEnd, current == UInt8(ascii: "}") {
            index += 1
            writer.raw(UInt8(ascii: "]"))
            return true
        }
        var first = true
        while !atEnd {
            if !first { writer.raw(UInt8(ascii: ",")) }
            first = false
            if current == UInt8(ascii: "{") {
                guard writeArrayLevel(element: element, delimiter: delimiter, decimal: decimal, into: &writer) else { return false }
            } else {
                guard let (value, quoted) = readArrayElement(delimiter: delimiter) else { return false }
                if !quoted && value.count == 4 && value.elementsEqual("NULL".utf8) {
                    writer.null()
                } else {
                    value.withUnsafeBufferPointer { element.write($0, decimal: decimal, into: &writer) }
                }
            }
            guard !atEnd else { return false }
            if current == delimiter {
                index += 1
            } else if current == UInt8(ascii: "}") {
                index += 1
                writer.raw(UInt8(ascii: "]"))
                return true
            } else {
                return false
            }
        }
        return false
    }

    /// One element, unescaped; whether it was quoted (a quoted "NULL" is the string NULL).
    private mutating func readArrayElement(delimiter: UInt8) -> ([UInt8], Bool)? {
        if current == UInt8(ascii: "\"") {
            return readQuoted().map { ($0, true) }
        }
        var value: [UInt8] = []
        while !atEnd, current != delimiter, current != UInt8(ascii: "}") {
            if current == UInt8(ascii: "\\") { index += 1; if atEnd { return nil } }
            value.append(current)
            index += 1
        }
        // PostgreSQL quotes an empty string; an empty unquoted element is malformed.
        return value.isEmpty ? nil : (value, false)
    }

    /// `(1,"a b",)`: an empty field is NULL; quotes are doubled or backslash-escaped inside.
    mutating func writeRecord(fields: [ValueKind.CompositeField], decimal: DecimalHandling, into writer: inout JSONWriter) -> Bool {
        guard !atEnd, current == UInt8(ascii: "(") else { return false }
        index += 1
        let start = writer.bytes.count
        writer.raw(UInt8(ascii: "{"))
        for (n, field) in fields.enumerated() {
            if n > 0 {
                guard !atEnd, current == UInt8(ascii: ",") else { writer.bytes.removeSubrange(start...); return false }
                index += 1
            }
            if n > 0 { writer.raw(UInt8(ascii: ",")) }
            writer.string(field.name)
            writer.raw(UInt8(ascii: ":"))
            guard !atEnd else { writer.bytes.removeSubrange(start...); return false }
            if current == UInt8(ascii: ",") || current == UInt8(ascii: ")") {
                writer.null()
                continue
            }
            var value: [UInt8] = []
            if current == UInt8(ascii: "\"") {
                index += 1
                while !atEnd {
                    if current == UInt8(ascii: "\"") {
                        if index + 1 < text.count, text[index + 1] == UInt8(ascii: "\"") {
                            value.append(current)
                            index += 2
                            continue
                        }
                        break
                    }
                    if current == UInt8(ascii: "\\") { index += 1; if atEnd { break } }
                    value.append(current)
                    index += 1
                }
                guard !atEnd else { writer.bytes.removeSubrange(start...); return false }
                index += 1
            } else {
                while !atEnd, current != UInt8(ascii: ","), current != UInt8(ascii: ")") {
                    value.append(current)
                    index += 1
                }
            }
            value.withUnsafeBufferPointer { field.kind.write($0, decimal: decimal, into: &writer) }
        }
        guard !atEnd, current == UInt8(ascii: ")"), index == text.count - 1 else {
            writer.bytes.removeSubrange(start...)
            return false
        }
        index += 1
        writer.raw(UInt8(ascii: "}"))
        return true
    }

    /// `"a"=>"1", "b"=>NULL` as `{"a":"1","b":null}`.
    mutating func writeHstore(into writer: inout JSONWriter) -> Bool {
        let start = writer.bytes.count
        writer.raw(UInt8(ascii: "{"))
        var first = true
        while true {
            while !atEnd, current == UInt8(ascii: " ") || current == UInt8(ascii: ",") { index += 1 }
            if atEnd { break }
            guard let key = readQuoted() else { writer.bytes.removeSubrange(start...); return false }
            guard index + 1 < text.count, current == UInt8(ascii: "="), text[index + 1] == UInt8(ascii: ">") else {
                writer.bytes.removeSubrange(start...)
                return false
            }
            index += 2
            if !first { writer.raw(UInt8(ascii: ",")) }
            first = false
            key.withUnsafeBufferPointer { writer.string(utf8: $0) }
            writer.raw(UInt8(ascii: ":"))
            if index + 4 <= text.count, UnsafeBufferPointer(rebasing: text[index..<(index + 4)]).elementsEqual("NULL".utf8) {
                index += 4
                writer.null()
            } else {
                guard let value = readQuoted() else { writer.bytes.removeSubrange(start...); return false }
                value.withUnsafeBufferPointer { writer.string(utf8: $0) }
            }
        }
        writer.raw(UInt8(ascii: "}"))
        return true
    }

    private mutating func readQuoted() -> [UInt8]? {
        guard !atEnd, current == UInt8(ascii: "\"") else { return nil }
        index += 1
        var value: [UInt8] = []
        while !atEnd, current != UInt8(ascii: "\"") {
            if current == UInt8(ascii: "\\") { index += 1; if atEnd { return nil } }
            value.append(current)
            index += 1
        }
        guard !atEnd else { return nil }
        index += 1
        return value
    }
}
