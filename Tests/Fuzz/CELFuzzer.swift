// libFuzzer entry point for the CEL parser and evaluator, and the envelope reader routes use.
// Built by Tests/Fuzz/run.sh cel with -sanitize=fuzzer,address; not part of the package build.
//
// The input is an expression, a NUL, then the fields it reads: a JSON object for `after`
// (as an envelope's row image) or, when that does not parse, values cut from the raw bytes so
// that extreme ints, doubles and strings reach the evaluator without having to be valid JSON.
import Foundation
import PGReflexRouter

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let split = bytes.firstIndex(of: 0) ?? bytes.count
    let source = String(decoding: bytes[..<split], as: UTF8.self)
    let rest = split < bytes.count ? Array(bytes[(split + 1)...]) : []
    guard let expression = try? CELExpression(source) else { return 0 }
    var after: [String: CELValue] = [:]
    let envelope = Array(#"{"op":"u","source":{"schema":"public","table":"t"},"after":"#.utf8) + rest + Array("}".utf8)
    if let activation = try? CELValue.activation(envelope: envelope) {
        _ = try? expression.evaluate(activation)
        return 0
    }
    // Eight-byte words as an int, a uint and a double; the whole rest as a string.
    var words: [UInt64] = []
    var i = 0
    while i + 8 <= rest.count {
        words.append(rest[i..<(i + 8)].reduce(0) { $0 << 8 | UInt64($1) })
        i += 8
    }
    for (n, word) in words.prefix(8).enumerated() {
        after["i\(n)"] = .int(Int64(bitPattern: word))
        after["u\(n)"] = .uint(word)
        after["d\(n)"] = .double(Double(bitPattern: word))
    }
    let text = String(decoding: rest, as: UTF8.self)
    for name in ["s", "x", "d", "t", "n", "created_us", "price"] { after[name] = .string(text) }
    after["l"] = .list(words.prefix(4).map { .int(Int64(bitPattern: $0)) })
    after["m"] = .map(["k": .string(text), "v": .int(Int64(words.first.map { Int64(bitPattern: $0) } ?? 0))])
    let event: CELValue = .map(["after": .map(after), "op": .string("u")])
    _ = try? expression.evaluate(["event": event, "after": .map(after), "before": .null, "op": .string("u"), "table": .string("public.t")])
    return 0
}
