public import PGReflexWire

/// A row's primary key as bytes: each key column's text form with its length, so keys
/// compare equal exactly when every column does. Streamed rows and read rows carry the same
/// text forms (both come from the types' output functions).
public struct SnapshotKey: Hashable, Sendable {
    public var bytes: [UInt8]

    /// nil when a key column is absent (an unchanged TOAST value cannot be a key) or binary.
    public init?(_ tuple: TupleData, columns: [Int]) {
        var bytes: [UInt8] = []
        for index in columns {
            guard index < tuple.columns.count else { return nil }
            switch tuple.columns[index] {
            case .null:
                bytes.append(0)
            case .text(let range):
                bytes.append(1)
                let count = UInt32(range.count)
                for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: count >> UInt32(shift))) }
                bytes.append(contentsOf: tuple.storage[range])
            case .unchangedToast, .binary:
                return nil
            }
        }
        self.bytes = bytes
    }

    /// The key columns' text forms (what progress records to resume after).
    public static func values(_ tuple: TupleData, columns: [Int]) -> [String?] {
        columns.map { index in
            guard index < tuple.columns.count, case .text(let range) = tuple.columns[index] else { return nil }
            return String(decoding: tuple.storage[range], as: UTF8.self)
        }
    }
}
