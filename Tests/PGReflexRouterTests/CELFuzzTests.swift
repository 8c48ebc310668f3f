import Foundation
import PGReflexRouter
import PGReflexTestSupport
import Testing

/// Random expressions from CEL's grammar over random rows: parsing and evaluating must throw or
/// answer, never trap or hang. The coverage-guided fuzzer (Tests/Fuzz/run.sh cel) goes further;
/// this keeps the property in every `swift test`. PGREFLEX_FUZZ_ITERATIONS sets the count.
@Suite struct CELFuzzTests {
    struct Generator {
        var random: SplitMix64

        mutating func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        mutating func chance(_ n: UInt64) -> Bool { random.next() % n == 0 }

        mutating func literal() -> String {
            pick(["0", "1", "-1", "9223372036854775807", "-9223372036854775808", "18446744073709551615u", "0u", "1.5", "-0.0",
                  "1e308", "1e-320", "0x7FFFFFFFFFFFFFFF", "19.99", "'19.99'", "'x'", "''", "'\\u00e9'", "r'\\d+'", "true", "null",
                  "[1, 2, 3]", "{'a': 1}", "timestamp('9999-12-31T23:59:59.999999999Z')", "timestamp('0001-01-01T00:00:00Z')",
                  "duration('2562047h')", "duration('-2562047h')", "duration('1ns')", "'2562047000h'", "'1733500000000000'"])
        }

        mutating func expression(_ depth: Int) -> String {
            if depth <= 0 || chance(4) {
                return chance(2) ? literal() : pick(["after.i", "after.u", "after.d", "after.s", "after.n", "after.l", "after.m", "op",
                                                     "after.missing", "after.t", "after.l[0]", "after.m['k']"])
            }
            let a = expression(depth - 1)
            let b = expression(depth - 1)
            switch random.next() % 12 {
            case 0: return "(\(a) \(pick(["+", "-", "*", "/", "%"])) \(b))"
            case 1: return "(\(a) \(pick(["==", "!=", "<", "<=", ">", ">="])) \(b))"
            case 2: return "(\(a) \(pick(["&&", "||"])) \(b))"
            case 3: return "\(pick(["int", "uint", "double", "string", "decimal", "bool", "dyn", "timestamp", "duration", "size"]))(\(a))"
            case 4: return "(\(a)).\(pick(["startsWith", "endsWith", "contains", "matches"]))(\(b))"
            case 5: return "(\(a)).\(pick(["getHours", "getMinutes", "getSeconds", "getMilliseconds", "getDayOfWeek", "getFullYear"]))(\(chance(2) ? "" : pick(["'UTC'", "'+99:00'", "'Europe/Paris'", b])))"
            case 6: return "(\(a) ? \(b) : \(expression(depth - 1)))"
            case 7: return "\(pick(["!", "-"]))(\(a))"
            case 8: return "(\(a) in \(b))"
            case 9: return "[\(a), \(b)][\(expression(depth - 1))]"
            case 10: return "has(after.\(pick(["i", "missing", "s"])))"
            default: return "(\(a)).matches(\(pick(["'(a+)+$'", "'['", "'(a)\\\\1'", "'^\\\\d+$'", b])))"
            }
        }

        mutating func value() -> CELValue {
            switch random.next() % 8 {
            case 0: return .int(Int64(bitPattern: random.next()))
            case 1: return .uint(random.next())
            case 2: return .double(Double(bitPattern: random.next()))
            case 3: return .string(pick(["", "19.99", "-0", "1e400", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", "2024-02-29T12:34:56Z", "3000000000h",
                                         String(repeating: "9", count: 60), "\u{0}", "é"]))
            case 4: return .list([.int(1), .null, .string("x")])
            case 5: return .map(["k": .int(Int64(bitPattern: random.next()))])
            case 6: return .null
            default: return .bool(random.next() % 2 == 0)
            }
        }
    }

    @Test func randomExpressionsOverRandomRowsNeverTrap() {
        let iterations = ProcessInfo.processInfo.environment["PGREFLEX_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 20_000
        var generator = Generator(random: SplitMix64(seed: 26))
        var evaluated = 0
        for _ in 0..<iterations {
            let text = generator.expression(4)
            guard let expression = try? CELExpression(text) else { continue }
            let after: CELValue = .map(["i": generator.value(), "u": generator.value(), "d": generator.value(), "s": generator.value(),
                                        "n": generator.value(), "l": generator.value(), "m": generator.value(), "t": generator.value()])
            _ = try? expression.evaluate(["after": after, "op": .string("u")])
            evaluated += 1
        }
        #expect(evaluated > iterations / 2, "most generated expressions parse")
    }
}
