public import PGReflexWire

/// One chunk of an incremental snapshot between its watermarks (DBLog): the rows read, less
/// those a streamed change touched while the window was open, because the streamed change is
/// at least as new as the read. At the high watermark the rest are emitted, in key order.
///
/// The owner opens the window when it issues the read, before the low watermark reaches the
/// stream; every change it handles after that is at least as new as the stream position the
/// read started from, so dropping its key is always safe (see docs/snapshots.md).
public struct ChunkWindow: Sendable {
    public enum Action: Sendable, Equatable {
        /// Not this window's watermark (or its low one): nothing to do.
        case none
        /// The window closed: emit these rows, in key order, at the high watermark's position.
        case emit(rows: [Int])
    }

    public let snapshotID: Int64
    public let chunk: Int
    public let nonce: UInt64
    public let relationOID: UInt32
    /// Where the key columns are in a row of the table; empty: the table has no key, and
    /// nothing can be dropped.
    public let keyColumns: [Int]
    public let rows: [TupleData]
    private var index: [SnapshotKey: Int] = [:]
    private var dropped: [Bool]
    public private(set) var droppedCount = 0
    public private(set) var lowSeen = false

    public init(snapshotID: Int64, chunk: Int, nonce: UInt64, relationOID: UInt32, keyColumns: [Int], rows: [TupleData]) {
        self.snapshotID = snapshotID
        self.chunk = chunk
        self.nonce = nonce
        self.relationOID = relationOID
        self.keyColumns = keyColumns
        self.rows = rows
        dropped = Array(repeating: false, count: rows.count)
        if !keyColumns.isEmpty {
            index.reserveCapacity(rows.count)
            for (position, row) in rows.enumerated() {
                if let key = SnapshotKey(row, columns: keyColumns) { index[key] = position }
            }
        }
    }

    public func watermark(_ edge: Watermark.Edge) -> Watermark {
        Watermark(snapshotID: snapshotID, chunk: chunk, nonce: nonce, edge: edge)
    }

    /// The key of a streamed change to the window's table (its after image, or before for a
    /// delete; both for an update that changed the key) drops the read of the same key.
    public mutating func observe(_ key: SnapshotKey) {
        guard let position = index[key], !dropped[position] else { return }
        dropped[position] = true
        droppedCount += 1
    }

    /// A watermark message from the stream.
    public mutating func handle(_ watermark: Watermark) -> Action {
        guard watermark.snapshotID == snapshotID, watermark.chunk == chunk, watermark.nonce == nonce else { return .none }
        switch watermark.edge {
        case .low:
            lowSeen = true
            return .none
        case .high:
            return .emit(rows: rows.indices.filter { !dropped[$0] })
        }
    }
}

/// The transactions capture has seen commit most recently: a chunk's read is stale if a
/// transaction it could not see had already been handled when it was issued (the commit was
/// flushed and streamed, but not yet visible to new snapshots). Bounded: only the latest
/// `capacity` are kept, far more than can be in that state at once.
public struct RecentTransactions: Sendable {
    private var ring: [UInt32]
    private var next = 0
    private var counts: [UInt32: Int] = [:]

    public init(capacity: Int = 4096) {
        ring = []
        ring.reserveCapacity(capacity)
        self.capacity = capacity
    }

    public let capacity: Int

    public mutating func committed(_ xid: UInt32) {
        if ring.count < capacity {
            ring.append(xid)
        } else {
            let old = ring[next]
            if let count = counts[old] { counts[old] = count > 1 ? count - 1 : nil }
            ring[next] = xid
            next = (next + 1) % capacity
        }
        counts[xid, default: 0] += 1
    }

    /// Whether any of these transactions is among the recent commits.
    public func containsAny(_ xids: Set<UInt32>) -> Bool {
        xids.contains { counts[$0] != nil }
    }
}
