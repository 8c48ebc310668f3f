@testable import PGReflexEnvelope
import Foundation
import PGReflexTestSupport
import Testing

@Suite struct ValueKindTests {
    func write(_ text: String, _ kind: ValueKind, decimal: DecimalHandling = .string) -> String {
        var writer = JSONWriter()
        var text = text
        text.withUTF8 { kind.write($0, decimal: decimal, into: &writer) }
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    @Test(arguments: [
        ("12.50", "{\"scale\":2,\"value\":\"BOI=\"}"),  // 1250 = 0x04E2
        ("-1", "{\"scale\":0,\"value\":\"/w==\"}"),  // 0xFF
        ("0", "{\"scale\":0,\"value\":\"AA==\"}"),
        ("128", "{\"scale\":0,\"value\":\"AIA=\"}"),  // 0x0080: a leading zero keeps it positive
        ("-128", "{\"scale\":0,\"value\":\"gA==\"}"),  // 0x80
        ("-129", "{\"scale\":0,\"value\":\"/38=\"}"),  // 0xFF7F
        ("4294967296.5", "{\"scale\":1,\"value\":\"CgAAAAU=\"}"),  // 42949672965 = 0x0A00000005
    ])
    func preciseDecimals(text: String, expected: String) {
        #expect(write(text, .numeric, decimal: .precise) == expected)
    }

    @Test func decimalModes() {
        #expect(write("12.50", .numeric) == "\"12.50\"")
        #expect(write("12.50", .numeric, decimal: .double) == "12.50")
        #expect(write("NaN", .numeric, decimal: .double) == "\"NaN\"")
        #expect(write("-$1,234.50", .money) == "\"-1234.50\"")
    }

    @Test func malformedTextFallsBackToAString() {
        let array = ValueKind.array(element: .integer, delimiter: UInt8(ascii: ","))
        #expect(write("{1,2", array) == "\"{1,2\"")
        #expect(write("{1,2}x", array) == "\"{1,2}x\"")
        #expect(write("[0:1]={7,8}", array) == "[7,8]")
        #expect(write("\\xzz", .bytea) == "\"\\\\xzz\"")
        #expect(write("\"a\"=>", .hstore) == "\"\\\"a\\\"=>\"")
        #expect(write("(1,2", .composite(fields: [.init(name: "a", kind: .integer), .init(name: "b", kind: .integer)])) == "\"(1,2\"")
    }

    @Test func randomTextNeverCrashesTheParsers() {
        let seed = SplitMix64.testSeed()
        var generator = SplitMix64(seed: seed)
        let alphabet = Array("{}(),\"\\=>NULL 1a".utf8)
        let kinds: [ValueKind] = [
            .array(element: .integer, delimiter: UInt8(ascii: ",")),
            .array(element: .array(element: .string, delimiter: UInt8(ascii: ",")), delimiter: UInt8(ascii: ",")),
            .composite(fields: [.init(name: "a", kind: .string), .init(name: "b", kind: .hstore)]),
            .hstore, .timetz, .timestamptz, .bytea, .money,
        ]
        for _ in 0..<20_000 {
            let text = String(decoding: (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
            for kind in kinds {
                let json = write(text, kind)
                // Whatever the input, the output is valid JSON.
                #expect((try? JSONSerialization.jsonObject(with: Data("[\(json)]".utf8))) != nil, "\(kind) \(text) -> \(json), PGREFLEX_TEST_SEED=\(seed)")
            }
        }
    }
}
