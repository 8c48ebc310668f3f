import AsyncHTTPClient
import NIOCore
public import PGReflexDispatch

/// What every agent kind sends for a call: one event's envelope as it is, or a batch's
/// envelopes in `{"events": [...]}`. A webhook's body and an `exec` agent's stdin are the same
/// bytes, so a receiver can move from one kind to the other unchanged.
public enum AgentPayload {
    public static func body(_ events: [AgentEvent]) -> [UInt8] {
        if events.count == 1 { return Array(trimmed(events[0].envelope)) }
        var body = Array(#"{"events":["#.utf8)
        for (i, event) in events.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += trimmed(event.envelope)
        }
        body += Array("]}".utf8)
        return body
    }

    /// One HTTP client for the process: connections are pooled across agents and routes.
    /// Redirects are not followed: a 3xx is the receiver's mistake, and is reported as one.
    /// A refused or unroutable connection fails within the connect timeout, and is retried by
    /// the dispatcher, not inside the call.
    static let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                                   configuration: HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                                           timeout: .init(connect: .seconds(5))))

    /// An envelope without its line end.
    static func trimmed(_ envelope: [UInt8]) -> ArraySlice<UInt8> {
        var slice = envelope[...]
        while let last = slice.last, last == 0x0A || last == 0x0D { slice = slice.dropLast() }
        return slice
    }
}
