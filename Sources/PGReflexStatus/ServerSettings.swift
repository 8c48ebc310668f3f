/// `server:`: where `run` serves /metrics, /healthz, /readyz and the status page.
public struct ServerSettings: Sendable, Equatable {
    /// 127.0.0.1 by default: the endpoints are for the operator, not the world. A container
    /// sets 0.0.0.0.
    public var host: String
    /// 0 picks a free port (logged once bound).
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int) {
        self.host = host
        self.port = port
    }
}
