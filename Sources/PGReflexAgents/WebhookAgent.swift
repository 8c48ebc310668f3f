import AsyncHTTPClient
import Crypto
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import PGReflexAgentContract
import PGReflexDispatch
import PGReflexTools

/// `webhook`: POSTs the event's envelope (or `{"events": [...]}` for a batch; or CloudEvents 1.0,
/// structured) to a URL, signed as the Standard Webhooks spec says, with a W3C `traceparent`
/// derived from the event id, and reads the answer as an outcome: 2xx succeeds (a JSON body is
/// kept as the output); 202 with a Location is polled until a final answer or the timeout;
/// 429, 502, 503 and 504 slow down and honour Retry-After; 410 disables the agent (its route
/// pauses, events wait); other 5xx and connection failures are retried; 3xx and other 4xx are not.
public final class WebhookAgent: Agent {
    public struct Settings: Sendable {
        public enum Format: String, Sendable, CaseIterable {
            /// The Debezium envelope as it is (`{"events": [...]}` for a batch).
            case debezium
            /// A CloudEvents 1.0 structured event (a JSON array for a batch), the envelope as `data`.
            case cloudevents
        }

        public var url: String
        /// `whsec_` secrets; several sign side by side (rotation).
        public var secrets: [String]
        public var timeout: Duration
        public var format: Format

        public init(url: String, secrets: [String] = [], timeout: Duration = .seconds(15), format: Format = .debezium) {
            self.url = url
            self.secrets = secrets
            self.timeout = timeout
            self.format = format
        }
    }

    public let name: String
    let settings: Settings
    let signer: WebhookSignature
    let logger: Logger

    /// Fails when a secret is not `whsec_` and base64.
    public init(name: String, settings: Settings, logger: Logger) throws(AgentError) {
        self.name = name
        self.settings = settings
        self.logger = logger
        do {
            signer = try WebhookSignature(secrets: settings.secrets)
        } catch {
            throw AgentError(code: .permanent, message: "agents.\(name).webhook: a secret is not whsec_ followed by base64: copy it again from the receiver")
        }
    }

    /// Each request carries the call's deadline, and so does each poll of a 202.
    public var endsCallsByTheirTimeout: Bool { true }

    /// Signing, the request and its answer never block: the call runs on an event loop of the
    /// HTTP client, where its connection is.
    public var callExecutor: (any TaskExecutor)? { EventLoopExecutor.next() }

    public func handle(_ call: AgentCall) async -> AgentOutcome {
        let body = settings.format == .cloudevents ? Self.cloudEvents(call.events) : AgentPayload.body(call.events)
        let id = call.events.first?.id ?? call.idempotencyKey
        let timestamp = String(Int(Date().timeIntervalSince1970))
        var request = HTTPClientRequest(url: settings.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: settings.format == .debezium ? "application/json"
                                : call.events.count == 1 ? "application/cloudevents+json" : "application/cloudevents-batch+json")
        request.headers.add(name: "user-agent", value: "pgreflex")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: timestamp)
        request.headers.add(name: "idempotency-key", value: call.idempotencyKey)
        request.headers.add(name: "traceparent", value: Self.traceparent(eventID: id))
        if !settings.secrets.isEmpty { request.headers.add(name: "webhook-signature", value: signer.sign(id: id, timestamp: timestamp, body: body)) }
        request.body = .bytes(body)
        let timeout = call.timeout ?? settings.timeout
        let deadline = NIODeadline.now() + .nanoseconds(UnixTime.micros(timeout) * 1000)
        do {
            var response = try await HTTPClient.pgreflex.execute(request, deadline: deadline, logger: nil)
            // 202 with a Location: the work goes on there; poll it until it answers for good.
            // The wait is a suspended task holding a concurrency slot, never a thread.
            while response.status.code == 202, let location = response.headers.first(name: "location") {
                _ = try await response.body.collect(upTo: 1 << 20)
                let pause = Self.retryAfter(response.headers.first(name: "retry-after")) ?? .seconds(1)
                let left = Duration.nanoseconds((deadline - NIODeadline.now()).nanoseconds)
                guard left > .zero else { throw HTTPClientError.deadlineExceeded }
                try await Task.sleep(for: min(pause, .seconds(30), left))
                guard NIODeadline.now() < deadline else { throw HTTPClientError.deadlineExceeded }
                var poll = HTTPClientRequest(url: Self.resolve(location, against: settings.url))
                poll.headers.add(name: "user-agent", value: "pgreflex")
                poll.headers.add(name: "webhook-id", value: id)
                poll.headers.add(name: "traceparent", value: Self.traceparent(eventID: id))
                response = try await HTTPClient.pgreflex.execute(poll, deadline: deadline, logger: nil)
            }
            let answer = try await response.body.collect(upTo: 1 << 20)
            return Self.outcome(status: Int(response.status.code), retryAfter: response.headers.first(name: "retry-after"),
                                location: response.headers.first(name: "location"), body: Array(answer.readableBytesView))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return .failure(AgentError(code: .timeout, message: "\(settings.url) did not answer within \(timeout)"))
        } catch is CancellationError {
            return .failure(AgentError(code: .timeout, message: "\(settings.url): the call was cancelled (a stop, or its timeout)"))
        } catch {
            return .failure(AgentError(code: .temporary, message: "\(settings.url): \(error)"))
        }
    }

    /// A Location relative to the webhook's URL, or absolute.
    static func resolve(_ location: String, against base: String) -> String {
        guard let url = URL(string: location, relativeTo: URL(string: base)) else { return location }
        return url.absoluteString
    }

    /// W3C Trace Context, derived from the event id: the same event always gives the same trace,
    /// so a receiver's spans line up with the change that caused them, on every retry.
    static func traceparent(eventID: String) -> String {
        // Written byte by byte: String(format:) per byte was a tenth of a webhook call's CPU.
        let digits = Array("0123456789abcdef".utf8)
        var text = Array("00-".utf8)
        text.reserveCapacity(55)
        for (i, byte) in SHA256.hash(data: Array(eventID.utf8)).prefix(24).enumerated() {
            if i == 16 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        text += Array("-01".utf8)
        return String(decoding: text, as: UTF8.self)
    }

    /// CloudEvents 1.0, structured: one event, or an array of them for a batch.
    static func cloudEvents(_ events: [AgentEvent]) -> [UInt8] {
        func one(_ event: AgentEvent) -> [UInt8] {
            let envelope = AgentPayload.trimmed(event.envelope)
            var fields = ["specversion": "1.0", "id": event.id, "source": "/pgreflex/\(event.table)", "type": "pgreflex.change.\(event.op)",
                          "subject": event.table, "datacontenttype": "application/json"]
            if event.commitTime > 0 {
                fields["time"] = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(event.commitTime) / 1e6))
            }
            var out = Array("{".utf8)
            for key in fields.keys.sorted() {
                let value = (try? JSONSerialization.data(withJSONObject: fields[key]!, options: [.fragmentsAllowed])) ?? Data("\"\"".utf8)
                out += Array("\"\(key)\":".utf8) + Array(value) + [UInt8(ascii: ",")]
            }
            out += Array(#""data":"#.utf8) + envelope + [UInt8(ascii: "}")]
            return out
        }
        if events.count == 1 { return one(events[0]) }
        var body: [UInt8] = [UInt8(ascii: "[")]
        for (i, event) in events.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += one(event)
        }
        body.append(UInt8(ascii: "]"))
        return body
    }

    /// What an answer means for the dispatcher.
    static func outcome(status: Int, retryAfter: String?, location: String?, body: [UInt8]) -> AgentOutcome {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        switch status {
        case 200..<300:
            // Most receivers answer with no body: nothing to parse (a failed parse throws and allocates).
            let isJSON = !body.isEmpty && (try? JSONSerialization.jsonObject(with: Data(body))) != nil
            return .success(output: isJSON ? body : nil)
        case 429, 502, 503, 504:
            return .failure(AgentError(code: .throttled, message: "HTTP \(status)", retryAfter: Self.retryAfter(retryAfter)))
        case 410:
            return .failure(AgentError(code: .disabled, message: "HTTP 410 Gone: the receiver asked to stop", retryAfter: Self.retryAfter(retryAfter)))
        case 500..<600:
            return .failure(AgentError(code: .temporary, message: "HTTP \(status): \(text)"))
        case 300..<400:
            return .failure(AgentError(code: .permanent, message: "HTTP \(status): a redirect (to \(location ?? "?")); configure the final URL"))
        default:
            return .failure(AgentError(code: .permanent, message: "HTTP \(status): \(text)"))
        }
    }

    /// Retry-After in seconds, or as an HTTP date.
    static func retryAfter(_ value: String?, now: Double = Date().timeIntervalSince1970) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Int(value), seconds >= 0 { return .seconds(seconds) }
        guard let date = httpDate(value) else { return nil }
        return .seconds(max(0, date - Int64(now)))
    }

    /// RFC 9110's IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form senders must use, as
    /// Unix seconds. Parsed by hand: a receiver's header is untrusted, and DateFormatter is slow
    /// and keeps per-call state.
    static func httpDate(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, parts[0].count == 4, parts[0].hasSuffix(","), parts[5] == "GMT",
              parts[1].count == 2, let day = Int(parts[1]), (1...31).contains(day),
              let monthIndex = months.firstIndex(of: String(parts[2])),
              parts[3].count == 4, let year = Int(parts[3]), year >= 1970
        else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
              let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
              hour < 24, minute < 60, second < 61
        else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm), March-based years.
        let month = monthIndex + 1
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }
}
