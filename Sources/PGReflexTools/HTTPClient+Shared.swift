public import AsyncHTTPClient
import NIOCore

extension HTTPClient {
    /// One HTTP client for the process (webhooks, LLM calls, the http tool): connections are
    /// pooled across agents and routes. Redirects are not followed: a 3xx is the receiver's
    /// mistake, and is reported as one. A refused or unroutable connection fails within the
    /// connect timeout, and is retried by the dispatcher, not inside the call.
    ///
    /// Calls in flight are bounded by each route's `concurrency`, so the pool does not bound them
    /// a second time: its own default (8 connections per host) held a `concurrency: 64` webhook
    /// route to 8 requests at once, the other 56 calls queued inside the client.
    public static let pgreflex = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)

    private static var configuration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)),
                                                     connectionPool: .init(idleTimeout: .seconds(60),
                                                                           concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnectionsPerHost))
        // No span per request: pgreflex bootstraps no tracer, and a webhook carries its own
        // `traceparent`, derived from the event.
        configuration.tracing.tracer = nil
        return configuration
    }

    /// Connections kept per host: above any sensible route's concurrency, below a receiver's
    /// file-descriptor limit.
    static let maxConnectionsPerHost = 512
}
