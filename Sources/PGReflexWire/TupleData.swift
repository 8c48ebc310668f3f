/// A row image from pgoutput: one entry per column of the relation, in column order.
///
/// Column values are ranges of a shared buffer (the batch the message arrived in), so
/// decoding a row allocates only the column list.
public struct TupleData: Sendable {
    public enum Column: Sendable, Hashable {
        /// `n`: SQL NULL.
        case null
        /// `u`: a TOASTed value the update did not change; the server did not send it.
        case unchangedToast
        /// `t`: the value's text form, as a range of ``TupleData/storage``.
        case text(Range<Int>)
        /// `b`: the value's binary form (only with the `binary` option).
        case binary(Range<Int>)
    }

    public enum Kind: UInt8, Sendable {
        case null = 0x6E  // n
        case unchangedToast = 0x75  // u
        case text = 0x74  // t
        case binary = 0x62  // b
    }

    public var storage: [UInt8]
    public var columns: [Column]

    public init(storage: [UInt8], columns: [Column]) {
        self.storage = storage
        self.columns = columns
    }

    /// Builds a tuple that owns its bytes; for tests and tools, not the hot path.
    public init(values: [Value]) {
        var storage: [UInt8] = []
        var columns: [Column] = []
        for value in values {
            switch value {
            case .null: columns.append(.null)
            case .unchangedToast: columns.append(.unchangedToast)
            case .text(let bytes):
                columns.append(.text(storage.count..<(storage.count + bytes.count)))
                storage.append(contentsOf: bytes)
            case .binary(let bytes):
                columns.append(.binary(storage.count..<(storage.count + bytes.count)))
                storage.append(contentsOf: bytes)
            }
        }
        self.init(storage: storage, columns: columns)
    }

    /// A column value with its bytes copied out.
    public enum Value: Sendable, Hashable {
        case null
        case unchangedToast
        case text([UInt8])
        case binary([UInt8])

        public var textString: String? {
            if case .text(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
            return nil
        }
    }

    public var values: [Value] {
        columns.map { column in
            switch column {
            case .null: .null
            case .unchangedToast: .unchangedToast
            case .text(let r): .text(Array(storage[r]))
            case .binary(let r): .binary(Array(storage[r]))
            }
        }
    }

    static func decode(from reader: inout WireReader) throws(WireDecodingError) -> TupleData {
        let count = try reader.readInt16("TupleData column count")
        if count < 0 { throw reader.error(.invalidValue, "TupleData column count") }
        var columns: [Column] = []
        columns.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let kind = try reader.readUInt8("TupleData column \(index) kind")
            switch Kind(rawValue: kind) {
            case .null: columns.append(.null)
            case .unchangedToast: columns.append(.unchangedToast)
            case .text: columns.append(.text(try reader.readLengthPrefixedBytes("TupleData column \(index)")))
            case .binary: columns.append(.binary(try reader.readLengthPrefixedBytes("TupleData column \(index)")))
            case nil: throw reader.error(.invalidValue, "TupleData column \(index) kind")
            }
        }
        return TupleData(storage: reader.storage, columns: columns)
    }

    func encode(into writer: inout WireWriter) {
        writer.writeInt16(Int16(columns.count))
        for column in columns {
            switch column {
            case .null: writer.writeUInt8(Kind.null.rawValue)
            case .unchangedToast: writer.writeUInt8(Kind.unchangedToast.rawValue)
            case .text(let r):
                writer.writeUInt8(Kind.text.rawValue)
                writer.writeLengthPrefixed(storage[r])
            case .binary(let r):
                writer.writeUInt8(Kind.binary.rawValue)
                writer.writeLengthPrefixed(storage[r])
            }
        }
    }
}

extension TupleData: Equatable {
    /// Two tuples are equal when their columns hold the same values, wherever their bytes live.
    public static func == (lhs: TupleData, rhs: TupleData) -> Bool {
        lhs.values == rhs.values
    }
}

/// Bytes held as a range of a shared buffer, compared by content.
public struct ByteView: Sendable, Equatable {
    public var storage: [UInt8]
    public var range: Range<Int>

    public init(storage: [UInt8], range: Range<Int>) {
        self.storage = storage
        self.range = range
    }

    public init(_ bytes: [UInt8]) {
        self.init(storage: bytes, range: 0..<bytes.count)
    }

    public var bytes: ArraySlice<UInt8> { storage[range] }

    public static func == (lhs: ByteView, rhs: ByteView) -> Bool {
        lhs.bytes.elementsEqual(rhs.bytes)
    }
}
