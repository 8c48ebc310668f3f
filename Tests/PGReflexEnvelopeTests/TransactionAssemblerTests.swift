import PGReflexEnvelope
import PGReflexWire
import Testing

@Suite struct TransactionAssemblerTests {
    let relation = PgOutputMessage.Relation(
        oid: 1, namespace: "public", name: "t", replicaIdentity: .default,
        columns: [.init(flags: 1, name: "id", typeOID: 23, typeModifier: -1)])

    func row(_ id: Int) -> TupleData { TupleData(values: [.text(Array(String(id).utf8))]) }

    @Test func stampsCommitContextAndOrdinals() throws {
        var assembler = TransactionAssembler()
        _ = try assembler.handle(.relation(relation), at: LSN(1))
        _ = try assembler.handle(.begin(.init(finalLSN: LSN(100), commitTime: .init(rawValue: 5), xid: 9)), at: LSN(10))
        var ordinals: [Int] = []
        for i in 0..<3 {
            guard case .event(let event) = try assembler.handle(.insert(.init(relationOID: 1, newTuple: row(i))), at: LSN(20)) else {
                Issue.record("no event"); return
            }
            #expect(event.commitLSN == LSN(100))
            #expect(event.xid == 9)
            ordinals.append(event.ordinal)
        }
        #expect(ordinals == [0, 1, 2])
        guard case .commit(let commit) = try assembler.handle(.commit(.init(commitLSN: LSN(100), endLSN: LSN(120), commitTime: .init(rawValue: 5))), at: LSN(100)) else {
            Issue.record("no commit"); return
        }
        #expect(commit.endLSN == LSN(120))
        #expect(commit.eventCount == 3)
        #expect(!assembler.inTransaction)
    }

    @Test func streamedMessagesAreHeldAndReleasedAtCommit() throws {
        var assembler = TransactionAssembler()
        _ = try assembler.handle(.streamStart(.init(xid: 50, firstSegment: true)), at: LSN(1))
        var rel = relation
        rel.xid = 50
        guard case .hold(let xid) = try assembler.handle(.relation(rel), at: LSN(1)) else { Issue.record("not held"); return }
        #expect(xid == 50)
        guard case .hold = try assembler.handle(.insert(.init(xid: 51, relationOID: 1, newTuple: row(2))), at: LSN(3)) else {
            Issue.record("not held"); return
        }
        _ = try assembler.handle(.streamStop, at: LSN(5))
        guard case .discard(50, 51) = try assembler.handle(.streamAbort(.init(xid: 50, subxid: 51)), at: LSN(6)) else {
            Issue.record("no discard"); return
        }
        let commit = PgOutputMessage.StreamCommit(xid: 50, commitLSN: LSN(7), endLSN: LSN(8), commitTime: .init(rawValue: 1))
        guard case .releaseStreamed(commit) = try assembler.handle(.streamCommit(commit), at: LSN(7)) else {
            Issue.record("no release"); return
        }
        #expect(throws: TransactionAssembler.AssemblyError.self) {
            try assembler.handle(.insert(.init(xid: 60, relationOID: 1, newTuple: row(1))), at: LSN(9))
        }
    }

    @Test func replayStampsCommitAndSkipsAbortedSubtransactions() throws {
        let commit = PgOutputMessage.StreamCommit(xid: 50, commitLSN: LSN(7), endLSN: LSN(8), commitTime: .init(rawValue: 1))
        var replay = StreamedTransactionReplay(commit: commit, abortedSubtransactions: [51])
        var rel = relation
        rel.xid = 50
        var events: [ChangeEvent] = []
        events += try replay.handle(.relation(rel), at: LSN(1))
        events += try replay.handle(.insert(.init(xid: 50, relationOID: 1, newTuple: row(1))), at: LSN(2))
        events += try replay.handle(.insert(.init(xid: 51, relationOID: 1, newTuple: row(2))), at: LSN(3))
        events += try replay.handle(.insert(.init(xid: 50, relationOID: 1, newTuple: row(3))), at: LSN(4))
        #expect(events.map(\.lsn) == [LSN(2), LSN(4)])
        #expect(events.map(\.ordinal) == [0, 1])
        #expect(events.map(\.dataCollectionOrder) == [1, 2])
        #expect(events.allSatisfy { $0.xid == 50 && $0.commitLSN == LSN(7) })
        #expect(replay.commit.eventCount == 2)
        #expect(replay.commit.endLSN == LSN(8))
    }

    @Test func inconsistentStreamsAreErrors() throws {
        var assembler = TransactionAssembler()
        #expect(throws: TransactionAssembler.AssemblyError.self) {
            try assembler.handle(.insert(.init(relationOID: 99, newTuple: row(1))), at: LSN(1))
        }
        _ = try assembler.handle(.relation(relation), at: LSN(1))
        #expect(throws: TransactionAssembler.AssemblyError.self) {
            try assembler.handle(.insert(.init(relationOID: 1, newTuple: row(1))), at: LSN(1))
        }
        _ = try assembler.handle(.begin(.init(finalLSN: LSN(100), commitTime: .init(rawValue: 5), xid: 9)), at: LSN(10))
        #expect(throws: TransactionAssembler.AssemblyError.self) {
            try assembler.handle(.insert(.init(relationOID: 1, newTuple: TupleData(values: [.null, .null]))), at: LSN(1))
        }
    }
}

extension TransactionAssembler.Action {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}
