import AsyncHTTPClient
import Crypto
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import PGReflexDispatch

/// `webhook`: POSTs the event's envelope (or `{"events": [...]}` for a batch) to a URL, signed
/// as the Standard Webhooks spec says, and reads the answer as an outcome: 2xx succeeds (a JSON
/// body is kept as the output); 429, 502, 503 and 504 slow down and honour Retry-After; 410
/// disables the agent (its route pauses, events wait); other 5xx and connection failures are
/// retried; 3xx and other 4xx are not.
public final class WebhookAgent: Agent {
    public struct Settings: Sendable {
        public var url: String
        /// `whsec_` secrets; several sign side by side (rotation).
        public var secrets: [String]
        public var timeout: Duration

        public init(url: String, secrets: [String] = [], timeout: Duration = .seconds(15)) {
            self.url = url
            self.secrets = secrets
            self.timeout = timeout
        }
    }

    public let name: String
    let settings: Settings
    let keys: [SymmetricKey]
    let logger: Logger

    /// One client for the process: connections are pooled across agents and routes. Redirects
    /// are not followed: a 3xx is the receiver's mistake, and is reported as one.
    static let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                                   configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    /// Fails when a secret is not `whsec_` and base64.
    public init(name: String, settings: Settings, logger: Logger) throws(AgentError) {
        self.name = name
        self.settings = settings
        self.logger = logger
        keys = try settings.secrets.map { secret throws(AgentError) in
            let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
            guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else {
                throw AgentError(code: .permanent, message: "agents.\(name).webhook: a secret is not whsec_ followed by base64: copy it again from the receiver")
            }
            return SymmetricKey(data: bytes)
        }
    }

    public func handle(_ call: AgentCall) async -> AgentOutcome {
        let body = Self.body(call.events)
        let id = call.events.first?.id ?? call.idempotencyKey
        let timestamp = String(Int(Date().timeIntervalSince1970))
        var request = HTTPClientRequest(url: settings.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "pgreflex")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: timestamp)
        request.headers.add(name: "idempotency-key", value: call.idempotencyKey)
        if !keys.isEmpty { request.headers.add(name: "webhook-signature", value: signature(id: id, timestamp: timestamp, body: body)) }
        request.body = .bytes(body)
        let timeout = call.timeout ?? settings.timeout
        do {
            let response = try await Self.client.execute(request, timeout: .nanoseconds(Int64(UnixTime.micros(timeout)) * 1000), logger: nil)
            let answer = try await response.body.collect(upTo: 1 << 20)
            return Self.outcome(status: Int(response.status.code), retryAfter: response.headers.first(name: "retry-after"),
                                location: response.headers.first(name: "location"), body: Array(answer.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return .failure(AgentError(code: .timeout, message: "\(settings.url) did not answer within \(timeout)"))
        } catch {
            return .failure(AgentError(code: .temporary, message: "\(settings.url): \(error)"))
        }
    }

    /// The envelope as it is, or a batch's envelopes in `{"events": [...]}`.
    static func body(_ events: [AgentEvent]) -> [UInt8] {
        func trimmed(_ envelope: [UInt8]) -> ArraySlice<UInt8> {
            var slice = envelope[...]
            while let last = slice.last, last == 0x0A || last == 0x0D { slice = slice.dropLast() }
            return slice
        }
        if events.count == 1 { return Array(trimmed(events[0].envelope)) }
        var body = Array(#"{"events":["#.utf8)
        for (i, event) in events.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += trimmed(event.envelope)
        }
        body += Array("]}".utf8)
        return body
    }

    /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` per secret, space-separated.
    func signature(id: String, timestamp: String, body: [UInt8]) -> String {
        var content = Array("\(id).\(timestamp).".utf8)
        content += body
        return keys.map { key in "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: key)).base64EncodedString() }
            .joined(separator: " ")
    }

    /// What an answer means for the dispatcher.
    static func outcome(status: Int, retryAfter: String?, location: String?, body: [UInt8]) -> AgentOutcome {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        switch status {
        case 200..<300:
            let isJSON = (try? JSONSerialization.jsonObject(with: Data(body))) != nil
            return .success(output: isJSON ? body : nil)
        case 429, 502, 503, 504:
            return .failure(AgentError(code: .throttled, message: "HTTP \(status)", retryAfter: Self.retryAfter(retryAfter)))
        case 410:
            return .failure(AgentError(code: .disabled, message: "HTTP 410 Gone: the receiver asked to stop"))
        case 500..<600:
            return .failure(AgentError(code: .temporary, message: "HTTP \(status): \(text)"))
        case 300..<400:
            return .failure(AgentError(code: .permanent, message: "HTTP \(status): a redirect (to \(location ?? "?")); configure the final URL"))
        default:
            return .failure(AgentError(code: .permanent, message: "HTTP \(status): \(text)"))
        }
    }

    /// Retry-After in seconds, or as an HTTP date.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Int(value), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSinceNow) * 1000))
    }
}
