import Foundation
import Logging
@testable import PGReflexAgents
import PGReflexDispatch
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
        if case .failure(let error) = WebhookAgent.outcome(status: 429, retryAfter: "7", location: nil, body: []) {
            #expect(error.retryAfter == .seconds(7))
        }
    }

    @Test func aBatchIsSentAsEventsAndSecretsAreChecked() throws {
        let events = ["a", "b"].map { AgentEvent(id: $0, table: "t", op: "c", envelope: Array("{\"id\":\"\($0)\"}\n".utf8)) }
        #expect(String(decoding: WebhookAgent.body(events), as: UTF8.self) == #"{"events":[{"id":"a"},{"id":"b"}]}"#)
        #expect(String(decoding: WebhookAgent.body([events[0]]), as: UTF8.self) == #"{"id":"a"}"#)
        #expect(throws: AgentError.self) { try WebhookAgent(name: "w", settings: .init(url: "http://127.0.0.1/", secrets: ["whsec_***"]), logger: .init(label: "t")) }
    }
}
