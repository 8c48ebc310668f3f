import Foundation
import Logging
import PGReflexAgentContract
@testable import PGReflexAgents
import PGReflexTools
import Testing

/// How the webhook agent reads an answer, and what it sends.
@Suite struct WebhookAgentTests {
    func code(_ status: Int, retryAfter: String? = nil) -> AgentError.Code? {
        if case .failure(let error) = WebhookAgent.outcome(status: status, retryAfter: retryAfter, location: nil, body: []) { return error.code }
        return nil
    }

    @Test func answersMapToTheRetryClasses() {
        #expect(code(200) == nil && code(204) == nil)
        #expect([429, 502, 503, 504].map { code($0) } == Array(repeating: .throttled, count: 4))
        #expect(code(410) == .disabled)
        #expect(code(500) == .temporary)
        #expect(code(301) == .permanent && code(400) == .permanent && code(401) == .permanent && code(422) == .permanent)
        let json = Array(#"{"summary":"ok"}"#.utf8)
        #expect(WebhookAgent.outcome(status: 200, retryAfter: nil, location: nil, body: json) == .success(output: json))
        #expect(WebhookAgent.outcome(status: 200, retryAfter: nil, location: nil, body: Array("ok".utf8)) == .success(output: nil))
    }

    @Test func retryAfterInSecondsOrAsADate() {
        #expect(WebhookAgent.retryAfter("3") == .seconds(3))
        #expect(WebhookAgent.retryAfter("soon") == nil && WebhookAgent.retryAfter(nil) == nil)
        let past = WebhookAgent.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT")
        #expect(past == .zero)
        // An HTTP date 90 s after "now" (2015-10-21T07:26:30Z).
        #expect(WebhookAgent.retryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: 1_445_412_390) == .seconds(90))
        #expect(WebhookAgent.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(WebhookAgent.httpDate("Thu, 29 Feb 2024 23:59:59 GMT") == 1_709_251_199)
        for bad in ["Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                    "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49 GMT", ""] {
            #expect(WebhookAgent.httpDate(bad) == nil, "\(bad)")
        }
        // A success must not pass this (issue 34: the check sat inside `if case .failure`).
        guard case .failure(let error) = WebhookAgent.outcome(status: 429, retryAfter: "7", location: nil, body: []) else {
            Issue.record("a 429 is a failure")
            return
        }
        #expect(error.code == .throttled && error.retryAfter == .seconds(7))
    }

    @Test func aBatchIsSentAsEventsAndSecretsAreChecked() throws {
        let events = ["a", "b"].map { AgentEvent(id: $0, table: "t", op: "c", envelope: Array("{\"id\":\"\($0)\"}\n".utf8)) }
        #expect(String(decoding: AgentPayload.body(events), as: UTF8.self) == #"{"events":[{"id":"a"},{"id":"b"}]}"#)
        #expect(String(decoding: AgentPayload.body([events[0]]), as: UTF8.self) == #"{"id":"a"}"#)
        #expect(throws: AgentError.self) { try WebhookAgent(name: "w", settings: .init(url: "http://127.0.0.1/", secrets: ["whsec_***"]), logger: .init(label: "t")) }
    }

    @Test func signaturesVerifyAcrossRotationAndWithinTolerance() throws {
        let old = "whsec_" + Data("the old secret, 24 bytes".utf8).base64EncodedString()
        let new = "whsec_" + Data("the new secret, 24 bytes".utf8).base64EncodedString()
        let both = try WebhookSignature(secrets: [old, new])
        let body = Array(#"{"id":"x"}"#.utf8)
        let header = both.sign(id: "e1", timestamp: "1764547200", body: body)
        #expect(header.split(separator: " ").count == 2 && header.hasPrefix("v1,"), "rotation sends two signatures")
        let now = Date(timeIntervalSince1970: 1_764_547_260)
        try WebhookSignature(secrets: [new]).verify(id: "e1", timestamp: "1764547200", signatures: header, body: body, now: now)
        #expect(throws: WebhookSignature.Failure.self) {
            try WebhookSignature(secrets: [new]).verify(id: "e1", timestamp: "1764547200", signatures: header, body: body + [0x20], now: now)
        }
        #expect(throws: WebhookSignature.Failure.self) {
            try both.verify(id: "e1", timestamp: "1764547200", signatures: header, body: body, now: now.addingTimeInterval(600))
        }
    }

    @Test func traceparentAndCloudEvents() throws {
        let trace = WebhookAgent.traceparent(eventID: "00000000016b3748-00000000")
        // The same event, the same trace (a retry joins it); another event, another trace; W3C's form.
        #expect(trace == WebhookAgent.traceparent(eventID: "00000000016b3748-00000000"))
        #expect(trace != WebhookAgent.traceparent(eventID: "00000000016b3748-00000001"))
        #expect(trace.range(of: "^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$", options: .regularExpression) != nil, "\(trace)")
        // Pinned: SHA-256 of the id, its first 16 bytes the trace id and the next 8 the span id.
        #expect(trace == "00-70e443edaa6b207e084c77aea237aee8-25089ba83650a62f-01")
        let event = AgentEvent(id: "e1", table: "public.orders", op: "u", envelope: Array("{\"op\":\"u\"}\n".utf8), commitTime: 1_764_547_200_000_000)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(WebhookAgent.cloudEvents([event]))) as? [String: Any])
        #expect(object["specversion"] as? String == "1.0" && object["source"] as? String == "/pgreflex/public.orders")
        #expect(object["time"] as? String == "2025-12-01T00:00:00Z" && (object["data"] as? [String: Any])?["op"] as? String == "u")
        let batch = try JSONSerialization.jsonObject(with: Data(WebhookAgent.cloudEvents([event, event]))) as? [Any]
        #expect(batch?.count == 2)
    }
}
