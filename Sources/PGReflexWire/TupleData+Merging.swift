extension TupleData {
    /// This tuple with each unchanged-TOAST column taken from `old` where `old` has the value
    /// (REPLICA IDENTITY FULL logs the whole old row). The result owns a new buffer.
    public func fillingUnchangedToast(from old: TupleData) -> TupleData {
        guard old.columns.count == columns.count else { return self }
        var storage = self.storage
        var columns = self.columns
        for index in columns.indices where columns[index] == .unchangedToast {
            switch old.columns[index] {
            case .text(let range):
                columns[index] = .text(storage.count..<(storage.count + range.count))
                storage.append(contentsOf: old.storage[range])
            case .binary(let range):
                columns[index] = .binary(storage.count..<(storage.count + range.count))
                storage.append(contentsOf: old.storage[range])
            case .null:
                columns[index] = .null
            case .unchangedToast:
                break
            }
        }
        return TupleData(storage: storage, columns: columns)
    }

    /// Whether column `index` holds the same value in both tuples (by bytes).
    public func columnEquals(_ index: Int, _ other: TupleData) -> Bool {
        switch (columns[index], other.columns[index]) {
        case (.null, .null), (.unchangedToast, .unchangedToast): true
        case (.text(let a), .text(let b)), (.binary(let a), .binary(let b)): storage[a].elementsEqual(other.storage[b])
        default: false
        }
    }
}
