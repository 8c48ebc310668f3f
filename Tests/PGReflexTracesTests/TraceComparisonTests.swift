import Foundation
import PGReflexConfig
@testable import PGReflexTraces
import Testing

struct TraceComparisonTests {
    func differences(_ old: [String: Any], _ new: [String: Any], _ tolerances: [TraceTolerance] = []) -> [String] {
        TraceComparison.differences(expected: old, actual: new, tolerances: tolerances).map { "\($0.path): \($0.expected ?? "-") → \($0.actual ?? "-")" }
    }

    @Test func aPartOnlyOneSideHasIsOneDifferenceAtItsRoot() {
        let call: [String: Any] = ["agent": "a", "decision": ["summary": "s", "actions": [["tool": "t", "args": ["x": 1]]]]]
        #expect(differences(["routes": ["r": ["verdict": "matches", "calls": [call]]]], ["routes": ["r": ["verdict": "no"]]])
                == [#"routes.r.verdict: "matches" → "no""#, #"routes.r.calls: [{"agent":"a","decision":{"actions":[{"args":{"x":1},"tool":"t"}],"summary":"s"}}] → -"#])
        #expect(differences(["a": [1, 2]], ["a": [1, 2, 3]]) == ["a.2: - → 3"])
        #expect(differences(["a": true], ["a": 1]) == ["a: true → 1"])
    }

    @Test func tolerancesIgnoreBoundAndUnorder() {
        let ignore = TraceTolerance(path: "calls.*.summary", rule: .ignore)
        #expect(differences(["calls": [["summary": "a", "n": 1]]], ["calls": [["summary": "b", "n": 1]]], [ignore]).isEmpty)
        let within = TraceTolerance(path: "usage.tokens", rule: .within(10))
        #expect(differences(["usage": ["tokens": 100]], ["usage": ["tokens": 109]], [within]).isEmpty)
        #expect(differences(["usage": ["tokens": 100]], ["usage": ["tokens": 111]], [within]) == ["usage.tokens: 100 → 111"])
        let range = TraceTolerance(path: "usage.tokens", rule: .range(0, 50))
        #expect(differences(["usage": ["tokens": 100]], ["usage": ["tokens": 40]], [range]).isEmpty)
        #expect(TraceComparison.differences(expected: ["usage": ["tokens": 40]], actual: ["usage": ["tokens": 51]], tolerances: [range]).first?.note
                == "outside its range [0, 50]")
        let unordered = TraceTolerance(path: "citations", rule: .unordered)
        #expect(differences(["citations": ["a", "b"]], ["citations": ["b", "a"]], [unordered]).isEmpty)
        #expect(differences(["citations": ["a", "b"]], ["citations": ["b", "a"]]).count == 2)
    }

    @Test func aToleranceThatIsNotOneSaysWhy() {
        #expect(throws: TraceTolerance.Invalid.self) { try TraceTolerance(json: ["path": "a", "ignore": true, "within": 2]) }
        #expect(throws: TraceTolerance.Invalid.self) { try TraceTolerance(json: ["path": "a", "range": [5, 1]]) }
        #expect(throws: TraceTolerance.Invalid.self) { try TraceTolerance(json: ["ignore": true]) }
        #expect(throws: (any Error).self) {
            try RunConfiguration.parse("""
                source: { dsn: x, slot: s, publication: p }
                journal: { directory: ./j }
                agents: { a: { noop: {} } }
                routes: { r: { agent: a } }
                traces: { tolerances: [{ path: "routes.*.calls.*.decision.usage.total_tokens", within: -1 }] }
                """, file: "run.yaml")
        }
    }

    @Test func aJUnitReportEscapesWhatXMLCannotHold() {
        #expect(TraceReport.escaped("a<b & \"c\" 'd' \u{1}") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos; \u{FFFD}")
    }
}
