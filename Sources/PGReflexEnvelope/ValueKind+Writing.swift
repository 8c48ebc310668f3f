extension ValueKind {
    /// Writes one value, given PostgreSQL's text form of it (with the session settings the
    /// replication connection pins: TimeZone UTC, DateStyle ISO, IntervalStyle iso_8601).
    func write(_ text: UnsafeBufferPointer<UInt8>, decimal: DecimalHandling, into writer: inout JSONWriter) {
        switch self {
        case .json:
            if text.isEmpty { writer.null() } else { writer.raw(text) }
        case .integer:
            // Checked, not trusted: anything but an integer's text is kept as a string.
            if Self.isInteger(text) { writer.raw(text) } else { writer.string(utf8: text) }
        case .float:
            if Self.isFloat(text) { writer.raw(text) } else { writer.string(utf8: text) }
        case .numeric:
            Self.writeDecimal(text, mode: decimal, into: &writer)
        case .money:
            // "-$1,234.56" → "-1234.56": keep the sign, digits and the decimal point.
            var plain: [UInt8] = []
            plain.reserveCapacity(text.count)
            for byte in text where (byte >= 48 && byte <= 57) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") {
                plain.append(byte)
            }
            plain.withUnsafeBufferPointer { Self.writeDecimal($0, mode: decimal, into: &writer) }
        case .boolean:
            writer.bool(text.first == UInt8(ascii: "t"))
        case .bytea:
            Self.writeBytea(text, into: &writer)
        case .timestamp:
            Self.writeTimestamp(text, utc: false, into: &writer)
        case .timestamptz:
            Self.writeTimestamp(text, utc: true, into: &writer)
        case .timetz:
            Self.writeTimeTZ(text, into: &writer)
        case .array(let element, let delimiter):
            var parser = PostgresTextParser(text)
            if !parser.writeArray(element: element, delimiter: delimiter, decimal: decimal, into: &writer) {
                writer.string(utf8: text)
            }
        case .composite(let fields):
            var parser = PostgresTextParser(text)
            if !parser.writeRecord(fields: fields, decimal: decimal, into: &writer) {
                writer.string(utf8: text)
            }
        case .hstore:
            var parser = PostgresTextParser(text)
            if !parser.writeHstore(into: &writer) {
                writer.string(utf8: text)
            }
        case .string:
            writer.string(utf8: text)
        }
    }

    static func isInteger(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var digits = 0
        for (i, byte) in text.enumerated() {
            if byte >= 48 && byte <= 57 { digits += 1 } else if !(i == 0 && byte == UInt8(ascii: "-")) { return false }
        }
        return digits > 0 && !(text.count > 1 && text[text[0] == UInt8(ascii: "-") ? 1 : 0] == 48 && digits > 1)
    }

    /// A JSON number as PostgreSQL prints floats: -?digits[.digits][e[+-]digits]. NaN and
    /// the infinities fail, and are written as strings.
    static func isFloat(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        func digits() -> Int {
            let start = i
            while i < text.count, text[i] >= 48, text[i] <= 57 { i += 1 }
            return i - start
        }
        if i < text.count, text[i] == UInt8(ascii: "-") { i += 1 }
        guard digits() > 0 else { return false }
        if i < text.count, text[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return false }
        }
        if i < text.count, text[i] == UInt8(ascii: "e") || text[i] == UInt8(ascii: "E") {
            i += 1
            if i < text.count, text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == text.count
    }

    /// NaN, Infinity, -Infinity (the words PostgreSQL prints): not JSON numbers.
    static func isSpecialNumber(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let last = text.last else { return true }
        return last == UInt8(ascii: "N") || last == UInt8(ascii: "y")
    }

    static func writeDecimal(_ text: UnsafeBufferPointer<UInt8>, mode: DecimalHandling, into writer: inout JSONWriter) {
        if isSpecialNumber(text) {
            writer.string(utf8: text)
            return
        }
        switch mode {
        case .string: writer.string(utf8: text)
        case .double: if isFloat(text) { writer.raw(text) } else { writer.string(utf8: text) }
        case .precise: writePrecise(text, into: &writer)
        }
    }

    /// `{"scale":s,"value":base64}` with the unscaled value as big-endian two's complement.
    static func writePrecise(_ text: UnsafeBufferPointer<UInt8>, into writer: inout JSONWriter) {
        var negative = false
        var scale = 0
        var seenPoint = false
        var limbs: [UInt32] = [0]  // little-endian base 2^32 magnitude
        for byte in text {
            if byte == UInt8(ascii: "-") { negative = true; continue }
            if byte == UInt8(ascii: ".") { seenPoint = true; continue }
            guard byte >= 48 && byte <= 57 else { continue }
            if seenPoint { scale += 1 }
            var carry = UInt64(byte - 48)
            for i in limbs.indices {
                let value = UInt64(limbs[i]) * 10 + carry
                limbs[i] = UInt32(truncatingIfNeeded: value)
                carry = value >> 32
            }
            if carry > 0 { limbs.append(UInt32(carry)) }
        }
        var bytes: [UInt8] = [0]  // a leading zero keeps the sign bit clear before negation
        for limb in limbs.reversed() {
            bytes.append(contentsOf: [UInt8(limb >> 24), UInt8(truncatingIfNeeded: limb >> 16),
                                      UInt8(truncatingIfNeeded: limb >> 8), UInt8(truncatingIfNeeded: limb)])
        }
        if negative {
            var carry = true
            for i in bytes.indices.reversed() {
                bytes[i] = ~bytes[i]
                if carry { (bytes[i], carry) = bytes[i].addingReportingOverflow(1) }
            }
            while bytes.count > 1 && bytes[0] == 0xFF && bytes[1] & 0x80 != 0 { bytes.removeFirst() }
        } else {
            while bytes.count > 1 && bytes[0] == 0 && bytes[1] & 0x80 == 0 { bytes.removeFirst() }
        }
        writer.raw("{\"scale\":")
        writer.integer(scale)
        writer.raw(",\"value\":")
        writer.base64String(bytes)
        writer.raw(UInt8(ascii: "}"))
    }

    /// bytea's hex form `\x0a1b…` as base64.
    static func writeBytea(_ text: UnsafeBufferPointer<UInt8>, into writer: inout JSONWriter) {
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"), text.count % 2 == 0 else {
            writer.string(utf8: text)
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((text.count - 2) / 2)
        var index = 2
        while index < text.count {
            guard let high = hexValue(text[index]), let low = hexValue(text[index + 1]) else {
                writer.string(utf8: text)
                return
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        writer.base64String(bytes)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: byte - 48
        case 97...102: byte - 87
        case 65...70: byte - 55
        default: nil
        }
    }

    /// `2024-01-31 12:34:56.789+00` → `2024-01-31T12:34:56.789Z`. Other offsets are kept as
    /// `+hh:mm`; infinities and BC dates stay as PostgreSQL prints them.
    static func writeTimestamp(_ text: UnsafeBufferPointer<UInt8>, utc: Bool, into writer: inout JSONWriter) {
        guard text.count >= 19, text[10] == UInt8(ascii: " "), text.last != UInt8(ascii: "C"),
              Self.isDate(UnsafeBufferPointer(rebasing: text[0..<10])),
              text[11...].allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".")
                  || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") })
        else {
            writer.string(utf8: text)
            return
        }
        writer.raw(UInt8(ascii: "\""))
        writer.raw(UnsafeBufferPointer(rebasing: text[0..<10]))
        writer.raw(UInt8(ascii: "T"))
        if utc {
            // The offset starts at the last '+' or '-' after the time.
            var offsetStart = text.count
            var i = text.count - 1
            while i > 18 {
                if text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") { offsetStart = i; break }
                i -= 1
            }
            writer.raw(UnsafeBufferPointer(rebasing: text[11..<offsetStart]))
            let offset = UnsafeBufferPointer(rebasing: text[offsetStart...])
            if offset.elementsEqual("+00".utf8) || offset.isEmpty {
                writer.raw(UInt8(ascii: "Z"))
            } else {
                writeOffset(offset, into: &writer)
            }
        } else {
            writer.raw(UnsafeBufferPointer(rebasing: text[11...]))
        }
        writer.raw(UInt8(ascii: "\""))
    }

    /// `YYYY-MM-DD`.
    static func isDate(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        text.count == 10 && text.enumerated().allSatisfy { i, byte in
            i == 4 || i == 7 ? byte == UInt8(ascii: "-") : byte >= 48 && byte <= 57
        }
    }

    /// `+05` → `+05:00`, `+05:30` as is.
    static func writeOffset(_ offset: UnsafeBufferPointer<UInt8>, into writer: inout JSONWriter) {
        writer.raw(offset)
        if offset.count == 3 { writer.raw(":00") }
    }

    /// `12:34:56.789+02` → `10:34:56.789Z`.
    static func writeTimeTZ(_ text: UnsafeBufferPointer<UInt8>, into writer: inout JSONWriter) {
        var offsetStart = -1
        for i in stride(from: text.count - 1, through: 8, by: -1) where text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") {
            offsetStart = i
            break
        }
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= text.count, !range.isEmpty else { return nil }
            var value = 0
            for i in range {
                guard text[i] >= 48 && text[i] <= 57 else { return nil }
                value = value * 10 + Int(text[i] - 48)
            }
            return value
        }
        let fraction = offsetStart > 8 ? UnsafeBufferPointer(rebasing: text[8..<offsetStart]) : UnsafeBufferPointer(rebasing: text[0..<0])
        guard offsetStart > 0, let hours = number(0..<2), let minutes = number(3..<5), let seconds = number(6..<8),
              let offsetHours = number((offsetStart + 1)..<(offsetStart + 3)),
              fraction.isEmpty || (fraction[0] == UInt8(ascii: ".") && fraction.dropFirst().allSatisfy { $0 >= 48 && $0 <= 57 })
        else {
            writer.string(utf8: text)
            return
        }
        let offsetMinutes = number((offsetStart + 4)..<(offsetStart + 6)) ?? 0
        let offsetSeconds = number((offsetStart + 7)..<(offsetStart + 9)) ?? 0
        let sign = text[offsetStart] == UInt8(ascii: "-") ? -1 : 1
        var total = hours * 3600 + minutes * 60 + seconds - sign * (offsetHours * 3600 + offsetMinutes * 60 + offsetSeconds)
        total = ((total % 86400) + 86400) % 86400
        writer.raw(UInt8(ascii: "\""))
        for (value, separator) in [(total / 3600, ":"), (total / 60 % 60, ":"), (total % 60, "")] {
            if value < 10 { writer.raw(UInt8(ascii: "0")) }
            writer.integer(value)
            writer.raw(contentsOf: separator.utf8)
        }
        writer.raw(fraction)
        writer.raw("Z\"")
    }
}

extension JSONWriter {
    mutating func raw<S: Sequence<UInt8>>(contentsOf bytes: S) {
        self.bytes.append(contentsOf: bytes)
    }
}
