import Foundation
@testable import PGReflexRouter
import PGReflexTestSupport
import Testing

/// The envelope reader: JSON into CEL values directly, strict, linear, bounded in depth; and
/// what it reads is what Foundation's JSONDecoder read through `Decodable` before it.
@Suite struct CELJSONReaderTests {
    /// The reader routes used before: JSONDecoder through a `Decodable` that tries each type in
    /// turn. Kept here as the reference.
    struct Reference: Decodable {
        var value: CELValue

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                value = .null
            } else if let bool = try? container.decode(Bool.self) {
                value = .bool(bool)
            } else if let int = try? container.decode(Int64.self) {
                value = .int(int)
            } else if let double = try? container.decode(Double.self) {
                value = .double(double)
            } else if let string = try? container.decode(String.self) {
                value = .string(string)
            } else if let list = try? container.decode([Reference].self) {
                value = .list(list.map(\.value))
            } else {
                value = .map(try container.decode([String: Reference].self).mapValues(\.value))
            }
        }
    }

    func read(_ json: String) throws -> CELValue { try CELJSONReader.value(of: Array(json.utf8)) }

    /// A random JSON text: objects, arrays, strings with escapes and non-ASCII, integers of any
    /// size, fractions and exponents, true, false, null.
    func randomJSON(_ random: inout SplitMix64, depth: Int = 0) -> String {
        switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &random) {
        case 0:
            let strings = ["", "plain", "é ü 漢", "tab\\tand\\nnewline", "quote\\\"back\\\\slash", "\\u00e9\\ud83d\\ude00", "slash\\/", "control\\u0001"]
            return "\"" + strings[Int.random(in: 0..<strings.count, using: &random)] + "\""
        case 1:
            let numbers = ["0", "-0", "7", "-42", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                           "123456789012345678901234567890", "1.5", "-0.25", "3.14159", "1e3", "2.5E-3", "-1e+2", "1.0", "2.50e1", "-0.0"]
            return numbers[Int.random(in: 0..<numbers.count, using: &random)]
        case 2: return ["true", "false", "null"][Int.random(in: 0..<3, using: &random)]
        case 3: return "\(Int64.random(in: -1_000_000...1_000_000, using: &random))"
        case 4:
            let items = (0..<Int.random(in: 0..<4, using: &random)).map { _ in randomJSON(&random, depth: depth + 1) }
            return " [ " + items.joined(separator: " , ") + " ] "
        default:
            let fields = (0..<Int.random(in: 0..<4, using: &random)).map { i in "\"k\(i)\" : " + randomJSON(&random, depth: depth + 1) }
            return "{" + fields.joined(separator: ",") + "}"
        }
    }

    @Test func readsWhatTheDecodableReaderRead() throws {
        let seed = SplitMix64.testSeed()
        var random = SplitMix64(seed: seed)
        for _ in 0..<2000 {
            let json = randomJSON(&random)
            let reference = try JSONDecoder().decode(Reference.self, from: Data(json.utf8)).value
            #expect(try read(json) == reference, "seed \(seed): \(json)")
        }
    }

    @Test func wholeNumbersInRangeAreIntsHoweverWritten() throws {
        #expect(try read("42") == .int(42))
        #expect(try read("-9223372036854775808") == .int(.min))
        #expect(try read("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try read("1.5") == .double(1.5))
        #expect(try read("1e3") == .int(1000))
        #expect(try read("2.50e1") == .int(25))
        #expect(try read("1e-2") == .double(0.01))
        for json in ["1.0", "1E-0", "100e-2", "0.1e1", "-0.0", "1e19", "12345678901234567890e-5", "9223372036854775807.0"] {
            #expect(try read(json) == JSONDecoder().decode(Reference.self, from: Data(json.utf8)).value, "\(json)")
        }
    }

    @Test func anEnvelopeReadsAsTheRouteSeesIt() throws {
        let activation = try CELValue.activation(envelope: Array(#"{"op":"u","source":{"schema":"public","table":"orders"},"after":{"id":1,"note":"a\"b"}}"#.utf8))
        #expect(activation["table"] == .string("public.orders"))
        #expect(activation["op"] == .string("u"))
        #expect(activation["after"] == .map(["id": .int(1), "note": .string("a\"b")]))
        #expect(activation["before"] == .null)
    }

    @Test func whatIsNotOneJSONValueIsRefusedNeverATrap() {
        let refused = [
            "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "[1 2]", "01", "-", "1.", ".5", "+1", "1e", "1e+",
            "NaN", "Infinity", "-Infinity", "1e400", "tru", "nul", "\"open", "\"\u{1}\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"",
            "\"\\udc00\"", "\"\\ud800\\u0041\"", "{} x", "[] []", "\"a\" \"b\"",
        ]
        for json in refused {
            #expect(throws: CELJSONError.self, "\(json)") { try read(json) }
        }
        #expect(throws: CELJSONError.self) { try CELJSONReader.value(of: [0x22, 0xFF, 0x22]) }
        #expect(throws: CELJSONError.self) { try CELValue.activation(envelope: Array("[1]".utf8)) }
    }

    @Test func deepNestingIsRefusedAtItsBound() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let error = try #require(throws: CELJSONError.self) { try read(deep) }
        #expect(error.message.contains("nested deeper than 512"))
        let allowed = String(repeating: "[", count: 511) + String(repeating: "]", count: 511)
        #expect(try read(allowed) != .null)
    }
}
