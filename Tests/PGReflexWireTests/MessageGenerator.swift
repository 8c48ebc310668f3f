import PGReflexTestSupport
import PGReflexWire

/// Random, valid pgoutput messages for property tests, reproducible from a seed.
struct MessageGenerator {
    var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func int<T: FixedWidthInteger>(_: T.Type = T.self) -> T { T.random(in: .min ... .max, using: &random) }
    mutating func lsn() -> LSN { LSN(int(UInt64.self)) }
    mutating func time() -> PostgresTimestamp { PostgresTimestamp(rawValue: int(Int64.self)) }
    mutating func bool() -> Bool { Bool.random(using: &random) }

    mutating func string() -> String {
        let alphabet = Array("abcXYZ_09 éß日本\"\\'")
        let count = Int.random(in: 0...12, using: &random)
        return String((0..<count).map { _ in alphabet.randomElement(using: &random)! })
    }

    mutating func bytes(max: Int = 40) -> [UInt8] {
        (0..<Int.random(in: 0...max, using: &random)).map { _ in int(UInt8.self) }
    }

    mutating func tuple() -> TupleData {
        let count = Int.random(in: 0...8, using: &random)
        return TupleData(values: (0..<count).map { _ in
            switch Int.random(in: 0..<4, using: &random) {
            case 0: .null
            case 1: .unchangedToast
            case 2: .text(bytes())
            default: .binary(bytes())
            }
        })
    }

    mutating func old() -> PgOutputMessage.OldTuple { bool() ? .key(tuple()) : .full(tuple()) }

    /// A message that is valid for the given decoding context.
    mutating func message(protocolVersion: Int, streamed: Bool, parallel: Bool) -> PgOutputMessage {
        let xid: UInt32? = streamed ? int() : nil
        var candidates: [PgOutputMessage.ID] = [.relation, .type, .insert, .update, .delete, .truncate, .message]
        if !streamed {
            candidates += [.begin, .commit, .origin]
            if protocolVersion >= 2 { candidates += [.streamStart, .streamCommit, .streamAbort] }
            if protocolVersion >= 3 { candidates += [.beginPrepare, .prepare, .commitPrepared, .rollbackPrepared, .streamPrepare] }
        } else {
            candidates.append(.streamStop)
        }
        switch candidates.randomElement(using: &random)! {
        case .begin: return .begin(.init(finalLSN: lsn(), commitTime: time(), xid: int()))
        case .commit: return .commit(.init(flags: int(), commitLSN: lsn(), endLSN: lsn(), commitTime: time()))
        case .origin: return .origin(.init(commitLSN: lsn(), name: string()))
        case .relation:
            let identities: [PgOutputMessage.Relation.ReplicaIdentity] = [.default, .nothing, .full, .index]
            return .relation(.init(
                xid: xid, oid: int(), namespace: string(), name: string(),
                replicaIdentity: identities.randomElement(using: &random)!,
                columns: (0..<Int.random(in: 0...6, using: &random)).map { _ in
                    .init(flags: int(), name: string(), typeOID: int(), typeModifier: int())
                }))
        case .type: return .type(.init(xid: xid, oid: int(), namespace: string(), name: string()))
        case .insert: return .insert(.init(xid: xid, relationOID: int(), newTuple: tuple()))
        case .update: return .update(.init(xid: xid, relationOID: int(), old: bool() ? old() : nil, newTuple: tuple()))
        case .delete: return .delete(.init(xid: xid, relationOID: int(), old: old()))
        case .truncate:
            return .truncate(.init(xid: xid, options: .init(rawValue: int()),
                                   relationOIDs: (0..<Int.random(in: 0...5, using: &random)).map { _ in int() }))
        case .message:
            return .message(.init(xid: xid, flags: int(), lsn: lsn(), prefix: string(), content: ByteView(bytes())))
        case .streamStart: return .streamStart(.init(xid: int(), firstSegment: bool()))
        case .streamStop: return .streamStop
        case .streamCommit: return .streamCommit(.init(xid: int(), flags: int(), commitLSN: lsn(), endLSN: lsn(), commitTime: time()))
        case .streamAbort:
            return .streamAbort(parallel ? .init(xid: int(), subxid: int(), abortLSN: lsn(), abortTime: time())
                                         : .init(xid: int(), subxid: int()))
        case .beginPrepare: return .beginPrepare(.init(prepareLSN: lsn(), endLSN: lsn(), prepareTime: time(), xid: int(), gid: string()))
        case .prepare: return .prepare(.init(flags: int(), prepareLSN: lsn(), endLSN: lsn(), prepareTime: time(), xid: int(), gid: string()))
        case .commitPrepared:
            return .commitPrepared(.init(flags: int(), commitLSN: lsn(), endLSN: lsn(), commitTime: time(), xid: int(), gid: string()))
        case .rollbackPrepared:
            return .rollbackPrepared(.init(flags: int(), prepareEndLSN: lsn(), rollbackEndLSN: lsn(), prepareTime: time(),
                                           rollbackTime: time(), xid: int(), gid: string()))
        case .streamPrepare:
            return .streamPrepare(.init(flags: int(), prepareLSN: lsn(), endLSN: lsn(), prepareTime: time(), xid: int(), gid: string()))
        }
    }
}
