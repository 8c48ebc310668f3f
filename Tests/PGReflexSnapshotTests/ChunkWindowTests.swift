import PGReflexSnapshot
import PGReflexWire
import Testing

struct ChunkWindowTests {
    static func row(_ id: String, _ value: String) -> TupleData {
        TupleData(values: [.text(Array(id.utf8)), .text(Array(value.utf8))])
    }

    static func key(_ id: String) -> SnapshotKey {
        SnapshotKey(TupleData(values: [.text(Array(id.utf8)), .null]), columns: [0])!
    }

    @Test func streamedChangesDropTheirKeysAndTheHighWatermarkEmitsTheRestInOrder() {
        var window = ChunkWindow(snapshotID: 3, chunk: 7, nonce: 0xABC, relationOID: 42, keyColumns: [0],
                                 rows: (1...5).map { Self.row("\($0)", "v\($0)") })
        window.observe(Self.key("2"))
        window.observe(Self.key("4"))
        window.observe(Self.key("4"))
        window.observe(Self.key("99"))  // not in the chunk
        #expect(window.droppedCount == 2)
        #expect(window.handle(window.watermark(.low)) == .none)
        #expect(window.lowSeen)
        var stale = window.watermark(.high)
        stale.nonce = 0xDEF  // a watermark resent from before a restart
        #expect(window.handle(stale) == .none)
        #expect(window.handle(window.watermark(.high)) == .emit(rows: [0, 2, 4]))
    }

    @Test func aKeylessTableDropsNothing() {
        var window = ChunkWindow(snapshotID: 1, chunk: 1, nonce: 1, relationOID: 1, keyColumns: [], rows: [Self.row("1", "a")])
        window.observe(Self.key("1"))
        #expect(window.handle(window.watermark(.high)) == .emit(rows: [0]))
    }

    /// Keys compare by every column's exact text: a prefix or a NULL never collides.
    @Test func keysAreExactAcrossColumns() {
        let a = SnapshotKey(TupleData(values: [.text(Array("ab".utf8)), .text(Array("c".utf8))]), columns: [0, 1])
        let b = SnapshotKey(TupleData(values: [.text(Array("a".utf8)), .text(Array("bc".utf8))]), columns: [0, 1])
        let c = SnapshotKey(TupleData(values: [.text(Array("ab".utf8)), .null]), columns: [0, 1])
        #expect(a != b && a != c)
        #expect(SnapshotKey(TupleData(values: [.unchangedToast]), columns: [0]) == nil)
        #expect(SnapshotKey.values(TupleData(values: [.text(Array("7".utf8)), .null]), columns: [1, 0]) == [nil, "7"])
    }

    @Test func watermarksRoundTripAndRejectJunk() {
        let mark = Watermark(snapshotID: 12, chunk: 345, nonce: 0xFEED_BEEF, edge: .high)
        #expect(Watermark(content: Array(mark.content.utf8)) == mark)
        for junk in ["", "1:2:3", "x:1:ab:high", "1:2:zz:high", "1:2:ab:middle", "1:2:ab:low:extra"] {
            #expect(Watermark(content: Array(junk.utf8)) == nil, "\(junk)")
        }
    }

    @Test func recentTransactionsForgetTheOldest() {
        var recent = RecentTransactions(capacity: 3)
        for xid: UInt32 in [10, 11, 12] { recent.committed(xid) }
        #expect(recent.containsAny([11, 99]))
        recent.committed(13)  // evicts 10
        #expect(!recent.containsAny([10]))
        #expect(recent.containsAny([13]))
        recent.committed(11)  // 11 twice: evicting the older one keeps it
        recent.committed(14)  // evicts 11 (first)
        #expect(recent.containsAny([11]))
    }

    @Test func chunkQueriesUseKeysetPaginationAndQuoteNames() {
        #expect(ChunkQuery.keyset(table: ChunkQuery.qualified(schema: "public", name: "or\"ders"), columns: ["id", "v"], key: ["id"],
                                  condition: nil, after: false, limit: 10)
            == "SELECT \"id\", \"v\" FROM \"public\".\"or\"\"ders\" ORDER BY \"id\" LIMIT 10")
        #expect(ChunkQuery.keyset(table: "t", columns: ["a", "b", "c"], key: ["a", "b"], condition: "c > 1", after: true, limit: 5)
            == "SELECT \"a\", \"b\", \"c\" FROM t WHERE (\"a\", \"b\") > ($1, $2) AND (c > 1) ORDER BY \"a\", \"b\" LIMIT 5")
        #expect(ChunkQuery.pages(table: "t", columns: ["a"], condition: nil, from: 8, count: 4)
            == "SELECT \"a\" FROM t WHERE ctid >= '(8,0)'::tid AND ctid < '(12,0)'::tid ORDER BY ctid")
    }
}
