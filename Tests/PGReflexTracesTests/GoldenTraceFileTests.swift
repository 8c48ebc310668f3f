import Foundation
import PGReflexConfig
@testable import PGReflexTraces
import Testing

/// The trace file: an envelope's bytes survive a write and a read exactly, a hand-edited or
/// hostile file gets an error that names its line, never a crash.
struct GoldenTraceFileTests {
    /// A small deterministic generator, so that a failure reproduces.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A random JSON value, `depth` levels deep at most, with the strings that trip a scanner:
    /// quotes, backslashes, braces and the member's own name.
    static func value(_ random: inout SplitMix, depth: Int) -> Any {
        let strings = ["envelope", "\"envelope\":", "a\\\"b", "{", "}]", ",", "é\u{1F600}", ""]
        switch Int.random(in: 0..<(depth > 0 ? 7 : 4), using: &random) {
        case 0: return strings.randomElement(using: &random)!
        case 1: return Int.random(in: -1_000_000...1_000_000, using: &random)
        case 2: return Bool.random(using: &random)
        case 3: return NSNull()
        case 4, 5:
            var object: [String: Any] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &random) { object[strings.randomElement(using: &random)! + "k"] = value(&random, depth: depth - 1) }
            return object
        default: return (0..<Int.random(in: 0...4, using: &random)).map { _ in value(&random, depth: depth - 1) }
        }
    }

    @Test func theEnvelopeSpanIsFoundWhateverSurroundsIt() throws {
        var random = SplitMix(state: 29)
        for _ in 0..<2000 {
            var envelope = ["id": "x"] as [String: Any]
            envelope["envelope"] = Self.value(&random, depth: 3)
            envelope["body"] = Self.value(&random, depth: 3)
            let bytes = Array(try JSONSerialization.data(withJSONObject: envelope))
            var spaced = bytes
            if Bool.random(using: &random) { spaced.insert(contentsOf: Array("  ".utf8), at: 1) }
            var line = Array(#"{"before":"#.utf8) + Array(try JSONSerialization.data(withJSONObject: Self.value(&random, depth: 3), options: [.fragmentsAllowed]))
            line += Array(#","envelope":"#.utf8) + spaced + Array(#","after":"#.utf8)
            line += Array(try JSONSerialization.data(withJSONObject: Self.value(&random, depth: 3), options: [.fragmentsAllowed])) + [UInt8(ascii: "}")]
            let span = try #require(JSONSpan.value(named: "envelope", in: line))
            #expect(Array(line[span]) == spaced)
        }
    }

    @Test func anEntryKeepsItsEnvelopeBytesAcrossAWriteAndARead() throws {
        let envelope = Array(#"{"before":null, "after":{"id":1,"note":"a \"quoted\" } brace"},"op":"c","source":{"schema":"public","table":"t"}}"#.utf8)
        let entry = TraceEntry(event: TraceEvent(id: "0000000000000001-00000000", table: "public.t", op: "c", commitTime: 5, schemaVersion: 2,
                                                 keyHash: 0xabc, envelope: envelope),
                               expected: ["routes": ["r": ["verdict": "matches"]]], recorded: ["k": ["replies": [["choices": []]]]])
        let trace = GoldenTrace(header: .init(recordedAt: "now", config: "run.yaml", tolerances: [TraceTolerance(path: "routes.*.verdict", rule: .ignore)]),
                                entries: [entry])
        let path = NSTemporaryDirectory() + "pgreflex-trace-\(UUID().uuidString)/t.jsonl"
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try trace.write(path: path)
        let read = try GoldenTrace.read(path: path)
        #expect(read.entries.first?.event == entry.event)
        #expect(read.header.tolerances == trace.header.tolerances)
        #expect(TraceJSON.text(read.entries[0].expected) == TraceJSON.text(entry.expected))
        // Only the file: the temporary one was renamed over it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent) == ["t.jsonl"])
    }

    /// Damaged files: bytes flipped, lines cut, at random. Each read gives a trace or an error
    /// naming the file and a line; none traps.
    @Test func aDamagedTraceIsAnErrorWithItsLineNeverACrash() throws {
        let envelope = Array(#"{"op":"c","after":{"id":1},"source":{"schema":"public","table":"t"}}"#.utf8)
        let good = GoldenTrace(header: .init(recordedAt: "now", config: "run.yaml"),
                               entries: [TraceEntry(event: TraceEvent(id: "e1", table: "public.t", op: "c", commitTime: 1, envelope: envelope),
                                                    expected: ["routes": [:]], recorded: [:])]).encoded()
        let path = NSTemporaryDirectory() + "pgreflex-trace-\(UUID().uuidString).jsonl"
        defer { unlink(path) }
        var random = SplitMix(state: 7)
        for _ in 0..<1500 {
            var bytes = good
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...20, using: &random)))
                default: bytes.insert(contentsOf: Array(#"{"[\"#.utf8).shuffled(using: &random), at: at)
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do {
                _ = try GoldenTrace.read(path: path)
            } catch {
                #expect(error.message.hasPrefix(path + ":") && error.code == .malformed, "\(error.message)")
            }
        }
    }
}
