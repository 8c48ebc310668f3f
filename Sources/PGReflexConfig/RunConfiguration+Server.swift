import PGReflexStatus
import Yams

/// `server: {host, port}`: the metrics, health and status endpoints.
extension RunConfiguration.Reader {
    func server(_ node: Node) throws -> ServerSettings {
        let server = try mapping(node, "server", keys: ["host", "port"])
        let port = try nonNegativeInt(try required(server, "port", in: node, section: "server"), "server.port")
        guard port <= 65535 else {
            throw ConfigurationError(file: file, line: RunConfiguration.line(node), message: "server.port is \(port): give a TCP port, 1 to 65535 (0 picks a free one)")
        }
        return ServerSettings(host: try server["host"].map { try string($0, "server.host") } ?? "127.0.0.1", port: port)
    }
}
