public import PGReflexWire

/// One journal record: an event (its envelope, already redacted by the privacy policies) at its
/// position, and, on a transaction's last event, that transaction's end LSN.
///
/// On disk: `length:u32 crc32c:u32 payload`, little-endian; the payload is
/// `commitLSN:u64 ordinal:u32 flags:u8 [endLSN:u64] envelope`.
public struct JournalRecord: Equatable, Sendable {
    public var position: EventPosition
    /// Set on the last event of a transaction: confirming it releases the transaction.
    public var transactionEnd: LSN?
    public var envelope: [UInt8]

    public init(position: EventPosition, transactionEnd: LSN? = nil, envelope: [UInt8]) {
        self.position = position
        self.transactionEnd = transactionEnd
        self.envelope = envelope
    }

    static let headerSize = 8

    /// Appends the framed record (header and payload) to `buffer`.
    public func encode(into buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.append(contentsOf: [0, 0, 0, 0, 0, 0, 0, 0])
        Self.append(position.commitLSN.rawValue, into: &buffer)
        Self.append(UInt32(truncatingIfNeeded: position.ordinal), into: &buffer)
        buffer.append(transactionEnd == nil ? 0 : 1)
        if let transactionEnd { Self.append(transactionEnd.rawValue, into: &buffer) }
        buffer.append(contentsOf: envelope)
        let payload = buffer.count - start - Self.headerSize
        let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(start + Self.headerSize)...])) }
        Self.store(UInt32(payload), at: start, in: &buffer)
        Self.store(crc, at: start + 4, in: &buffer)
    }

    /// Decodes a payload whose checksum has been verified.
    static func decode(payload: ArraySlice<UInt8>) -> JournalRecord? {
        guard payload.count >= 13 else { return nil }
        let base = payload.startIndex
        let lsn = load(UInt64.self, payload, base)
        let ordinal = load(UInt32.self, payload, base + 8)
        let flags = payload[base + 12]
        var offset = base + 13
        var end: LSN?
        if flags & 1 != 0 {
            guard payload.count >= 21 else { return nil }
            end = LSN(load(UInt64.self, payload, offset))
            offset += 8
        }
        return JournalRecord(position: EventPosition(commitLSN: LSN(lsn), ordinal: Int(ordinal)), transactionEnd: end,
                             envelope: Array(payload[offset...]))
    }

    static func append<T: FixedWidthInteger>(_ value: T, into buffer: inout [UInt8]) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { buffer.append(contentsOf: $0) }
    }

    static func store(_ value: UInt32, at offset: Int, in buffer: inout [UInt8]) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { raw in for i in 0..<4 { buffer[offset + i] = raw[i] } }
    }

    static func load<T: FixedWidthInteger>(_: T.Type, _ bytes: ArraySlice<UInt8>, _ offset: Int) -> T {
        var value: T = 0
        for i in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + i]) << (8 * i) }
        return value
    }
}
