import PGReflexAgentContract
import Testing

/// The byte search that decides which envelopes are parsed for a cause: it must find our
/// origin or tag anywhere, and nothing else.
@Suite struct AgentCausationTests {
    @Test func findsTheOriginOrTagWhereverItIs() {
        let origin = #""origin":"pgreflex:1:fraud""#
        let tag = #""prefix":"pgreflex.causation""#
        for needle in [origin, tag] {
            for (before, after) in [("", ""), ("{", "}"), (String(repeating: "x", count: 37), "xx"), ("{\"a\":\"xxx\",", ",\"b\":1}")] {
                #expect(AgentCausation.mayCarryCause(Array((before + needle + after).utf8)), "\(before)|\(needle)|\(after)")
            }
        }
        for text in ["", "x", #"{"origin":null}"#, #"{"origin":"pgreflex"#, #"{"origin":"pgreflex"}"#, #""prefix":"pgreflex.causatio"#,
                     #"{"origin":"other:pgreflex:1:a"}"#, String(repeating: "x", count: 100)] {
            #expect(!AgentCausation.mayCarryCause(Array(text.utf8)), "\(text)")
        }
    }
}
