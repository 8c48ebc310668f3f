import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PGReflexAgentContract
import PGReflexDispatch

/// `http`: POSTs the arguments as a JSON object to a URL, with an `Idempotency-Key` header
/// (the same on every retry and replay) and the causing event's id. The receiver keeps the
/// promise of running once, as Stripe's and the IETF draft's idempotency keys ask; pgreflex
/// keeps the answer as the receipt. 2xx succeeds; 429 and 5xx are retried; other codes fail.
/// With secrets, each request is signed as webhooks are (Standard Webhooks: `webhook-id` is the
/// idempotency key, `webhook-timestamp`, `webhook-signature`), so the receiver can verify it.
public struct HTTPTool: Tool {
    public let name: String
    public let parameters: [ToolParameter]
    let url: String
    let timeout: Duration
    let signer: WebhookSignature?
    public var effect: ToolEffect { .write }

    /// Secrets that are not `whsec_…` base64 are refused by the configuration before this.
    public init(name: String, url: String, parameters: [ToolParameter], timeout: Duration = .seconds(15), secrets: [String] = []) {
        self.name = name
        self.url = url
        self.parameters = parameters
        self.timeout = timeout
        signer = secrets.isEmpty ? nil : try? WebhookSignature(secrets: secrets)
    }

    public func run(_ invocation: ToolInvocation) async -> Result<ToolReceipt, ToolError> {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "pgreflex")
        request.headers.add(name: "idempotency-key", value: invocation.idempotencyKey)
        request.headers.add(name: "pgreflex-causation-id", value: invocation.causationID)
        let object = invocation.arguments.mapValues { $0.map { $0 as Any } ?? NSNull() }
        let body = Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8))
        if let signer {
            let timestamp = String(Int(Date().timeIntervalSince1970))
            request.headers.add(name: "webhook-id", value: invocation.idempotencyKey)
            request.headers.add(name: "webhook-timestamp", value: timestamp)
            request.headers.add(name: "webhook-signature", value: signer.sign(id: invocation.idempotencyKey, timestamp: timestamp, body: body))
        }
        request.body = .bytes(body)
        do {
            let response = try await HTTPClient.pgreflex.execute(request, deadline: .now() + .nanoseconds(UnixTime.micros(timeout) * 1000), logger: nil)
            let answer = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            let status = Int(response.status.code)
            let isJSON = (try? JSONSerialization.jsonObject(with: Data(answer), options: [.fragmentsAllowed])) != nil
            switch status {
            case 200..<300:
                return .success(ToolReceipt(status: .done, result: #"{"status":\#(status),"body":\#(isJSON ? String(decoding: answer, as: UTF8.self) : "null")}"#))
            case 429, 500..<600:
                return .failure(ToolError(code: .temporary, message: "tools.\(name): HTTP \(status) from \(url)"))
            default:
                return .failure(ToolError(code: .permanent, message: "tools.\(name): HTTP \(status) from \(url)"))
            }
        } catch {
            return .failure(ToolError(code: .temporary, message: "tools.\(name): \(url): \(error)"))
        }
    }
}
