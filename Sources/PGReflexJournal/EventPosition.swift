public import PGReflexWire

/// Where an event stands in commit order: its transaction's commit LSN, then its ordinal in
/// the transaction. The LSN alone is not enough: Begin shares its LSN with the first change,
/// and a multi-row INSERT or COPY gives many changes one LSN.
public struct EventPosition: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var commitLSN: LSN
    public var ordinal: Int

    public init(commitLSN: LSN, ordinal: Int) {
        self.commitLSN = commitLSN
        self.ordinal = ordinal
    }

    public static func < (lhs: EventPosition, rhs: EventPosition) -> Bool {
        (lhs.commitLSN, lhs.ordinal) < (rhs.commitLSN, rhs.ordinal)
    }

    public var description: String { "\(commitLSN)#\(ordinal)" }
}

extension EventPosition {
    /// The position an event id names (`0000000001A2B3C8-00000003`, as envelopes write it);
    /// nil when the text is not one.
    public init?(eventID text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 16, parts[1].count == 8,
              let lsn = UInt64(parts[0], radix: 16), let ordinal = UInt32(parts[1], radix: 16) else { return nil }
        self.init(commitLSN: LSN(lsn), ordinal: Int(ordinal))
    }
}
