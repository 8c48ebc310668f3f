/// An event's id as every envelope, route and dead letter writes it: the commit LSN (16 hex
/// digits), `-`, and the ordinal in the transaction (8 hex digits). Fixed width, so ids sort
/// in commit order. One definition, because receivers deduplicate by it.
public enum EventID {
    public static func append(lsn: UInt64, ordinal: Int, into buffer: inout [UInt8]) {
        appendHex(lsn, digits: 16, into: &buffer)
        buffer.append(UInt8(ascii: "-"))
        appendHex(UInt64(ordinal), digits: 8, into: &buffer)
    }

    public static func string(lsn: UInt64, ordinal: Int) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(25)
        append(lsn: lsn, ordinal: ordinal, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func appendHex(_ value: UInt64, digits: Int, into buffer: inout [UInt8]) {
        var shift = digits * 4
        while shift > 0 {
            shift -= 4
            let nibble = UInt8((value >> UInt64(shift)) & 0xF)
            buffer.append(nibble < 10 ? nibble + 48 : nibble + 87)
        }
    }
}
