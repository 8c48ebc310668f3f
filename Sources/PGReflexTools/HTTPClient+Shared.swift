public import AsyncHTTPClient
import NIOCore

extension HTTPClient {
    /// One HTTP client for the process (webhooks, LLM calls, the http tool): connections are
    /// pooled across agents and routes. Redirects are not followed: a 3xx is the receiver's
    /// mistake, and is reported as one. A refused or unroutable connection fails within the
    /// connect timeout, and is retried by the dispatcher, not inside the call.
    public static let pgreflex = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                                            configuration: HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                                                    timeout: .init(connect: .seconds(5))))
}
