import PGReflexWire
import Testing

@Suite struct PgOutputDecoderTests {
    static let relation = PgOutputMessage.Relation(
        oid: 16384, namespace: "public", name: "orders", replicaIdentity: .default,
        columns: [
            .init(flags: 1, name: "id", typeOID: 20, typeModifier: -1),
            .init(flags: 0, name: "note", typeOID: 25, typeModifier: -1),
        ])

    @Test func decodesInsertWithEveryColumnKind() throws {
        let tuple = TupleData(values: [.text(Array("42".utf8)), .null])
        let bytes = PgOutputMessage.insert(.init(relationOID: 16384, newTuple: tuple)).encode()
        var decoder = PgOutputDecoder(protocolVersion: 1)
        guard case .insert(let insert) = try decoder.decode(bytes) else { Issue.record("not an insert"); return }
        #expect(insert.relationOID == 16384)
        #expect(insert.newTuple.values == [.text(Array("42".utf8)), .null])
        #expect(insert.xid == nil)

        let mixed = TupleData(values: [.unchangedToast, .binary([0, 1, 2])])
        let update = PgOutputMessage.update(.init(relationOID: 1, old: .full(mixed), newTuple: mixed)).encode()
        guard case .update(let decoded) = try decoder.decode(update) else { Issue.record("not an update"); return }
        #expect(decoded.old == .full(mixed))
        #expect(decoded.newTuple.values == [.unchangedToast, .binary([0, 1, 2])])
    }

    @Test func hexBytesOfABeginMessage() throws {
        // B, final LSN 0/16B3748, commit time 1, xid 750
        let bytes: [UInt8] = [0x42, 0, 0, 0, 0, 0x01, 0x6B, 0x37, 0x48, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x02, 0xEE]
        var decoder = PgOutputDecoder(protocolVersion: 1)
        let message = try decoder.decode(bytes)
        #expect(message == .begin(.init(finalLSN: LSN("0/16B3748")!, commitTime: PostgresTimestamp(rawValue: 1), xid: 750)))
    }

    @Test func streamBlocksCarryXids() throws {
        var decoder = PgOutputDecoder(protocolVersion: 2)
        _ = try decoder.decode(PgOutputMessage.streamStart(.init(xid: 900, firstSegment: true)).encode())
        #expect(decoder.openStreamXid == 900)
        var relation = Self.relation
        relation.xid = 901
        #expect(try decoder.decode(PgOutputMessage.relation(relation).encode()) == .relation(relation))
        _ = try decoder.decode(PgOutputMessage.streamStop.encode())
        #expect(decoder.openStreamXid == nil)
        // Outside a block the same bytes have 4 bytes too many.
        #expect(throws: WireDecodingError.self) { try decoder.decode(PgOutputMessage.relation(relation).encode()) }
    }

    @Test func streamStopWithoutStartIsRejected() {
        var decoder = PgOutputDecoder(protocolVersion: 2)
        #expect(throws: WireDecodingError.self) { try decoder.decode(PgOutputMessage.streamStop.encode()) }
    }

    @Test func messagesNeedTheirProtocolVersion() {
        var decoder = PgOutputDecoder(protocolVersion: 1)
        let start = PgOutputMessage.streamStart(.init(xid: 1, firstSegment: true)).encode()
        #expect(throws: WireDecodingError.self) { try decoder.decode(start) }
        var v2 = PgOutputDecoder(protocolVersion: 2)
        let prepare = PgOutputMessage.prepare(.init(prepareLSN: LSN(1), endLSN: LSN(2), prepareTime: .init(rawValue: 3), xid: 4, gid: "g")).encode()
        #expect(throws: WireDecodingError.self) { try v2.decode(prepare) }
    }

    @Test func parallelStreamAbortCarriesLSNAndTime() throws {
        let abort = PgOutputMessage.streamAbort(.init(xid: 5, subxid: 6, abortLSN: LSN(77), abortTime: .init(rawValue: 88)))
        var decoder = PgOutputDecoder(protocolVersion: 4, parallelStreaming: true)
        #expect(try decoder.decode(abort.encode()) == abort)
        var plain = PgOutputDecoder(protocolVersion: 4, parallelStreaming: false)
        #expect(throws: WireDecodingError.self) { try plain.decode(abort.encode()) }
    }

    @Test func errorsCarryTheOffset() throws {
        var bytes = PgOutputMessage.insert(.init(relationOID: 1, newTuple: TupleData(values: [.text([65, 66])]))).encode()
        bytes[bytes.count - 7] = 0x7A  // the column kind byte: 'z' is no kind
        var decoder = PgOutputDecoder(protocolVersion: 1)
        do {
            _ = try decoder.decode(bytes)
            Issue.record("decoded a bad kind")
        } catch {
            #expect(error.code == .invalidValue)
            #expect(error.offset == bytes.count - 6)
            #expect(error.message == "pgoutput Insert")
            #expect(!error.description.contains("AB"))
        }
    }

    @Test func trailingBytesAreRejected() {
        var bytes = PgOutputMessage.commit(.init(commitLSN: LSN(1), endLSN: LSN(2), commitTime: .init(rawValue: 3))).encode()
        bytes.append(0)
        var decoder = PgOutputDecoder(protocolVersion: 1)
        #expect(throws: WireDecodingError(code: .trailingBytes, message: "pgoutput Commit", field: "end of message", offset: 26)) {
            try decoder.decode(bytes)
        }
    }

    @Test func emptyAndUnknownMessages() {
        var decoder = PgOutputDecoder(protocolVersion: 4)
        #expect(throws: WireDecodingError.self) { try decoder.decode([]) }
        #expect(throws: WireDecodingError.self) { try decoder.decode([0x5A]) }
    }

    @Test func frameDecoding() throws {
        let keepalive = ReplicationFrame.primaryKeepalive(.init(walEnd: LSN(10), serverTime: .init(rawValue: 20), replyRequested: true))
        let bytes = keepalive.encode(payload: [])
        #expect(try ReplicationFrame.decode(storage: bytes, range: 0..<bytes.count) == keepalive)
        let data = ReplicationFrame.xLogData(.init(walStart: LSN(1), walEnd: LSN(2), serverTime: .init(rawValue: 3), data: 0..<0))
        let xbytes = [0xFF] + data.encode(payload: [1, 2, 3])
        guard case .xLogData(let x) = try ReplicationFrame.decode(storage: xbytes, range: 1..<xbytes.count) else {
            Issue.record("not XLogData"); return
        }
        #expect(Array(xbytes[x.data]) == [1, 2, 3])
        #expect(throws: WireDecodingError.self) { try ReplicationFrame.decode(storage: bytes + [0], range: 0..<(bytes.count + 1)) }
        let status = StandbyStatusUpdate(write: LSN(1), flush: LSN(2), apply: LSN(3), clientTime: .init(rawValue: 4))
        #expect(try StandbyStatusUpdate.decode(status.encode()) == status)
        #expect(status.encode().count == 34)
    }
}
