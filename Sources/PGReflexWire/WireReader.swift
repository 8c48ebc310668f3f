/// A strict reader over one message. Every read checks the remaining length, and
/// ``finish()`` rejects bytes left over, so a message either decodes whole or throws
/// with the offset where it went wrong.
///
/// It reads from a shared buffer by index, so a batch of messages received together is
/// stored once and decoded without copying.
public struct WireReader: Sendable {
    public let storage: [UInt8]
    public private(set) var position: Int
    public let start: Int
    public let end: Int
    /// The message kind, for errors.
    public var message: String

    public init(storage: [UInt8], range: Range<Int>, message: String) {
        precondition(range.lowerBound >= 0 && range.upperBound <= storage.count, "range outside storage")
        self.storage = storage
        self.position = range.lowerBound
        self.start = range.lowerBound
        self.end = range.upperBound
        self.message = message
    }

    public init(_ bytes: [UInt8], message: String) {
        self.init(storage: bytes, range: 0..<bytes.count, message: message)
    }

    public var remaining: Int { end - position }
    public var offset: Int { position - start }

    public func error(_ code: WireDecodingError.Code, _ field: @autoclosure () -> String) -> WireDecodingError {
        WireDecodingError(code: code, message: message, field: field(), offset: offset)
    }

    @inline(__always)
    private func need(_ count: Int, _ field: @autoclosure () -> String) throws(WireDecodingError) {
        if remaining < count { throw error(.shortMessage, field()) }
    }

    public mutating func readUInt8(_ field: @autoclosure () -> String) throws(WireDecodingError) -> UInt8 {
        try need(1, field())
        defer { position += 1 }
        return storage[position]
    }

    public mutating func readInt16(_ field: @autoclosure () -> String) throws(WireDecodingError) -> Int16 {
        try need(2, field())
        defer { position += 2 }
        return Int16(bitPattern: UInt16(storage[position]) << 8 | UInt16(storage[position + 1]))
    }

    public mutating func readUInt32(_ field: @autoclosure () -> String) throws(WireDecodingError) -> UInt32 {
        try need(4, field())
        defer { position += 4 }
        var value: UInt32 = 0
        for i in 0..<4 { value = value << 8 | UInt32(storage[position + i]) }
        return value
    }

    public mutating func readInt32(_ field: @autoclosure () -> String) throws(WireDecodingError) -> Int32 {
        Int32(bitPattern: try readUInt32(field()))
    }

    public mutating func readUInt64(_ field: @autoclosure () -> String) throws(WireDecodingError) -> UInt64 {
        try need(8, field())
        defer { position += 8 }
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(storage[position + i]) }
        return value
    }

    public mutating func readInt64(_ field: @autoclosure () -> String) throws(WireDecodingError) -> Int64 {
        Int64(bitPattern: try readUInt64(field()))
    }

    public mutating func readLSN(_ field: @autoclosure () -> String) throws(WireDecodingError) -> LSN {
        LSN(try readUInt64(field()))
    }

    public mutating func readTimestamp(_ field: @autoclosure () -> String) throws(WireDecodingError) -> PostgresTimestamp {
        PostgresTimestamp(rawValue: try readInt64(field()))
    }

    /// A NUL-terminated UTF-8 string.
    public mutating func readCString(_ field: @autoclosure () -> String) throws(WireDecodingError) -> String {
        guard let nul = storage[position..<end].firstIndex(of: 0) else {
            throw error(.invalidString, field())
        }
        guard let string = String(validating: storage[position..<nul], as: UTF8.self) else {
            throw error(.invalidString, field())
        }
        position = nul + 1
        return string
    }

    /// The range of the next `count` bytes within ``storage``.
    public mutating func readBytes(_ count: Int, _ field: @autoclosure () -> String) throws(WireDecodingError) -> Range<Int> {
        if count < 0 { throw error(.invalidValue, field()) }
        try need(count, field())
        defer { position += count }
        return position..<(position + count)
    }

    /// A length-prefixed (Int32) byte string.
    public mutating func readLengthPrefixedBytes(_ field: @autoclosure () -> String) throws(WireDecodingError) -> Range<Int> {
        let length = try readInt32(field() + " length")
        if length < 0 { throw error(.invalidValue, field() + " length") }
        return try readBytes(Int(length), field())
    }

    public mutating func readRemaining() -> Range<Int> {
        defer { position = end }
        return position..<end
    }

    /// Throws when bytes are left over: a message that decodes with bytes to spare was misread.
    public func finish() throws(WireDecodingError) {
        if position != end { throw error(.trailingBytes, "end of message") }
    }
}

/// Writes messages in wire order (big-endian). Used for the standby status update the
/// client sends, and by tests to build messages that the decoder must read back.
public struct WireWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }
    public mutating func writeInt16(_ value: Int16) { writeInteger(UInt16(bitPattern: value)) }
    public mutating func writeUInt32(_ value: UInt32) { writeInteger(value) }
    public mutating func writeInt32(_ value: Int32) { writeInteger(UInt32(bitPattern: value)) }
    public mutating func writeUInt64(_ value: UInt64) { writeInteger(value) }
    public mutating func writeInt64(_ value: Int64) { writeInteger(UInt64(bitPattern: value)) }
    public mutating func writeLSN(_ value: LSN) { writeInteger(value.rawValue) }
    public mutating func writeTimestamp(_ value: PostgresTimestamp) { writeInt64(value.rawValue) }

    public mutating func writeCString(_ value: String) {
        bytes.append(contentsOf: value.utf8)
        bytes.append(0)
    }

    public mutating func writeBytes<C: Collection<UInt8>>(_ value: C) {
        bytes.append(contentsOf: value)
    }

    public mutating func writeLengthPrefixed<C: Collection<UInt8>>(_ value: C) {
        writeInt32(Int32(value.count))
        bytes.append(contentsOf: value)
    }

    private mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { bytes.append(contentsOf: $0) }
    }
}
