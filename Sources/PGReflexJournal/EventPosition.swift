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
