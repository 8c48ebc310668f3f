import Foundation
@testable import PGReflexState
import PGReflexWire
import Testing

/// The trace lines routes store for `event show`: they round-trip, text with tabs or line
/// breaks (an agent's error message) cannot split a line, a run of done records stands in for
/// ids, and any bytes (a damaged store) decode to lines or nothing, never a trap.
@Suite struct RouteTraceTests {
    static func id(_ n: Int) -> String { EventID.string(lsn: UInt64(0x1000_0000 + n * 64), ordinal: n % 3) }

    @Test func linesRoundTripWithTextMadeSafe() {
        var random = SystemRandomNumberGenerator()
        let texts = ["", "plain", "tab\there", "line\nbreak\r\n", "HTTP 500: {\"error\":\"x\"}", "é,ü"]
        for _ in 0..<500 {
            let kind = RouteTrace.Kind.allCases.randomElement(using: &random)!
            let events = (0..<Int.random(in: 1...4, using: &random)).map { _ in Self.id(Int.random(in: 0..<1000, using: &random)) }
            let trace = RouteTrace(route: "r", kind: kind, events: events, at: Int64.random(in: -1...Int64.max / 2, using: &random),
                                   attempt: Int.random(in: 0...9, using: &random), readAt: Int64.random(in: 0...Int64.max / 2, using: &random),
                                   micros: Int64.random(in: Int64.min + 1...Int64.max, using: &random), outcome: texts.randomElement(using: &random)!,
                                   key: texts.randomElement(using: &random)!, error: texts.randomElement(using: &random)!,
                                   detail: texts.randomElement(using: &random)!)
            var bytes: [UInt8] = []
            trace.encode(into: &bytes, done: [])
            #expect(bytes.filter { $0 == 10 }.count == 1, "one line")
            let decoded = RouteTrace.decode(bytes, route: "r")
            var safe = trace
            func clean(_ text: String) -> String {
                String(decoding: text.utf8.map { $0 == 9 || $0 == 10 || $0 == 13 ? 32 : $0 }, as: UTF8.self)
            }
            safe.outcome = clean(trace.outcome)
            safe.key = clean(trace.key)
            safe.error = clean(trace.error)
            safe.detail = clean(trace.detail)
            #expect(decoded == [safe])
        }
    }

    @Test func aRunOfDoneRecordsStandsInForIds() {
        let done = (0..<6).map { DoneKey(eventID: Self.id($0), route: "r", agent: "a") }
        var trace = RouteTrace(route: "r", kind: .attempts, events: [], at: 5, attempt: 1, readAt: 4, micros: 1, outcome: "succeeded")
        trace.doneRange = 2..<5
        var bytes: [UInt8] = []
        trace.encode(into: &bytes, done: done)
        #expect(RouteTrace.decode(bytes, route: "r").first?.events == done[2..<5].map(\.eventID))
    }

    @Test func anyBytesDecodeWithoutATrap() {
        var random = SystemRandomNumberGenerator()
        var line: [UInt8] = []
        RouteTrace(route: "r", kind: .attempt, events: [Self.id(1)], at: 1, attempt: 1, readAt: 1, micros: 1, outcome: "retrying",
                   error: "temporary: HTTP 500").encode(into: &line, done: [])
        for _ in 0..<2000 {
            var bytes = line + line
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &random))
                default: bytes.insert([9, 10, 44, 45].randomElement(using: &random)!, at: Int.random(in: 0...bytes.count, using: &random))
                }
                if bytes.isEmpty { break }
            }
            let decoded = RouteTrace.decode(bytes, route: "r")
            #expect(decoded.count <= bytes.filter { $0 == 10 }.count + 1)
        }
        #expect(RouteTrace.decode((0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) }, route: "r").count >= 0)
    }
}
