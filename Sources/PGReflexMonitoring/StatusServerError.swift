public import PGReflexStatus

#if canImport(Glibc)
import Glibc
#endif

/// The status server cannot listen where `server:` says.
public struct StatusServerError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let name: String
        public static let addressInUse = Code(name: "server_address_in_use")
        public static let cannotBind = Code(name: "server_cannot_bind")
        public var description: String { name }
    }

    public var code: Code
    public var message: String
    /// errno's text, when the system gave one.
    public var underlying: String?

    /// Never by itself: another process holds the port, or the address is wrong.
    public var isRetryable: Bool { false }

    public var description: String { "\(code): \(message)" }
}

extension StatusServer {
    /// Binds and releases the address before anything starts, so that a taken port is an error
    /// naming the address and the setting (`setting`: `server.port` or `--server`), not a
    /// socket call's text after capture has begun. SO_REUSEADDR, as the server itself sets it,
    /// so a port in TIME_WAIT is not reported.
    public static func checkAddress(_ settings: ServerSettings, setting: String) throws(StatusServerError) {
        let address = "\(settings.host):\(settings.port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(settings.host, String(settings.port), &hints, &found) == 0, let first = found else {
            throw StatusServerError(code: .cannotBind, message: "server: cannot resolve \(settings.host) (in \(address)): give an address of this machine, such as 127.0.0.1 or 0.0.0.0, in \(setting)")
        }
        defer { freeaddrinfo(found) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return }  // the server will say; nothing to learn here
        defer { close(fd) }
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let reason = String(cString: strerror(errno))
            if errno == EADDRINUSE {
                throw StatusServerError(code: .addressInUse, message: "server: \(address) is in use (another process listens there, perhaps "
                    + "another pgreflex): pick another port in \(setting), or stop that process", underlying: reason)
            }
            throw StatusServerError(code: .cannotBind, message: "server: cannot listen on \(address) (\(reason)): check the address and port in \(setting)"
                + (settings.port < 1024 ? " (ports below 1024 need privileges)" : ""), underlying: reason)
        }
    }
}
