import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Properties of the decoder over many random messages: encode-then-decode is the identity,
/// every strict prefix fails as a short message, and an extra byte fails as trailing bytes.
@Suite struct PgOutputPropertyTests {
    @Test(arguments: [(1, false, false), (2, false, false), (2, true, false), (3, false, false), (3, true, false),
                      (4, false, true), (4, true, true)])
    func encodeThenDecodeIsIdentity(version: Int, streamed: Bool, parallel: Bool) throws {
        var generator = MessageGenerator(seed: UInt64(version * 10 + (streamed ? 1 : 0)))
        for _ in 0..<3000 {
            let message = generator.message(protocolVersion: version, streamed: streamed, parallel: parallel)
            let bytes = message.encode()
            let decoded = try PgOutputMessage.decode(storage: bytes, range: 0..<bytes.count, protocolVersion: version,
                                                     streamed: streamed, parallelStreaming: parallel)
            #expect(decoded == message)
            #expect(decoded.encode() == bytes)
        }
    }

    @Test func everyStrictPrefixIsShortAndEveryExtensionIsTrailing() {
        var generator = MessageGenerator(seed: 7)
        for _ in 0..<500 {
            let message = generator.message(protocolVersion: 4, streamed: false, parallel: true)
            let bytes = message.encode()
            for cut in 0..<bytes.count {
                #expect(throws: WireDecodingError.self) {
                    try PgOutputMessage.decode(storage: bytes, range: 0..<cut, protocolVersion: 4, streamed: false, parallelStreaming: true)
                }
            }
            let extended = bytes + [0]
            do {
                _ = try PgOutputMessage.decode(storage: extended, range: 0..<extended.count, protocolVersion: 4,
                                               streamed: false, parallelStreaming: true)
                Issue.record("decoded \(message.id) with a trailing byte")
            } catch {
                #expect(error.code == .trailingBytes || error.code == .invalidString || error.code == .invalidValue)
            }
        }
    }
}

/// Random and mutated input never crashes the decoder; it either decodes or throws
/// ``WireDecodingError``. Set PGREFLEX_FUZZ_ITERATIONS for a long run (see the README).
@Suite struct PgOutputFuzzTests {
    static var iterations: Int {
        getenv("PGREFLEX_FUZZ_ITERATIONS").flatMap { Int(String(cString: $0)) } ?? 100_000
    }

    @Test func randomBytesNeverCrash() {
        var random = SplitMix64(seed: 0xF022)
        var decoded = 0
        for _ in 0..<Self.iterations {
            let length = Int.random(in: 0...48, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            if !bytes.isEmpty, Bool.random(using: &random) {
                bytes[0] = PgOutputMessage.ID.allCases.randomElement(using: &random)!.rawValue
            }
            let version = Int.random(in: 1...4, using: &random)
            if let message = try? PgOutputMessage.decode(storage: bytes, range: 0..<bytes.count, protocolVersion: version,
                                                         streamed: Bool.random(using: &random),
                                                         parallelStreaming: Bool.random(using: &random)) {
                // Strict: whatever random bytes decode were read whole, so they are exactly the message's encoding.
                #expect(message.encode() == bytes, "\(message.id) from \(bytes)")
                decoded += 1
            }
            _ = try? ReplicationFrame.decode(storage: bytes, range: 0..<bytes.count)
        }
        // Some random inputs are valid messages (short fixed-size ones), most are not.
        #expect(decoded > 0 && decoded < Self.iterations, "\(decoded) of \(Self.iterations) decoded")
    }

    @Test func mutatedMessagesNeverCrash() {
        var generator = MessageGenerator(seed: 0xBEEF)
        var random = SplitMix64(seed: 0xCAFE)
        var decoded = 0
        for _ in 0..<(Self.iterations / 4) {
            let streamed = Bool.random(using: &random)
            var bytes = generator.message(protocolVersion: 4, streamed: streamed, parallel: true).encode()
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                switch Int.random(in: 0..<3, using: &random) {
                case 0 where !bytes.isEmpty:
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1:
                    bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
                default:
                    if !bytes.isEmpty { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random)) }
                }
            }
            var decoder = PgOutputDecoder(protocolVersion: 4, parallelStreaming: true)
            _ = try? decoder.decode(bytes)
            // Strict: a mutation that still decodes was read whole, so it is exactly the message's encoding.
            if let message = try? PgOutputMessage.decode(storage: bytes, range: 0..<bytes.count, protocolVersion: 4,
                                                         streamed: streamed, parallelStreaming: true) {
                #expect(message.encode() == bytes, "\(message.id) from \(bytes)")
                decoded += 1
            }
        }
        // Many mutations (a changed byte inside a string or a number) still decode.
        #expect(decoded > 0, "no mutated message decoded: the round trip went unchecked")
    }
}
