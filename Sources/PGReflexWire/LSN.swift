/// A position in the write-ahead log, printed by PostgreSQL as `X/Y`
/// (two hexadecimal halves of a 64-bit number).
public struct LSN: RawRepresentable, Hashable, Comparable, Sendable {
    public var rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// `0/0`: PostgreSQL's InvalidXLogRecPtr. In START_REPLICATION it means "from the slot's confirmed position".
    public static let invalid = LSN(0)

    public static func < (lhs: LSN, rhs: LSN) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// Appends the `X/Y` form as ASCII bytes, without building a String (hot path).
    public func write(into buffer: inout [UInt8]) {
        Self.appendHex(UInt32(truncatingIfNeeded: rawValue >> 32), into: &buffer)
        buffer.append(UInt8(ascii: "/"))
        Self.appendHex(UInt32(truncatingIfNeeded: rawValue), into: &buffer)
    }

    private static func appendHex(_ value: UInt32, into buffer: inout [UInt8]) {
        if value == 0 {
            buffer.append(UInt8(ascii: "0"))
            return
        }
        var shift = (32 - value.leadingZeroBitCount + 3) / 4 * 4
        while shift > 0 {
            shift -= 4
            let nibble = UInt8((value >> UInt32(shift)) & 0xF)
            buffer.append(nibble < 10 ? nibble + 48 : nibble + 55)
        }
    }
}

extension LSN: CustomStringConvertible, LosslessStringConvertible {
    public var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(17)
        write(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses `X/Y` where each half is 1 to 8 hexadecimal digits, as PostgreSQL's `pg_lsn` input does.
    public init?(_ description: String) {
        let parts = description.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2,
              (1...8).contains(parts[0].utf8.count), (1...8).contains(parts[1].utf8.count),
              let high = UInt32(parts[0], radix: 16), let low = UInt32(parts[1], radix: 16)
        else { return nil }
        self.rawValue = UInt64(high) << 32 | UInt64(low)
    }
}
