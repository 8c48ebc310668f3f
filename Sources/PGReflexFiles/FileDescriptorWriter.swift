#if canImport(Glibc)
import Glibc
#endif

/// Writes whole buffers to a file descriptor (stdout, a file), retrying partial writes.
public struct FileDescriptorWriter: Sendable {
    public struct WriteError: Error, Sendable, CustomStringConvertible {
        public var errno: Int32

        public init(errno: Int32) {
            self.errno = errno
        }
        /// The reader went away (EPIPE): not a failure of pgreflex, but nothing more can be delivered.
        public var isBrokenPipe: Bool { errno == EPIPE }
        public var description: String { "writing the output failed (\(String(cString: strerror(errno))))" }
    }

    public let fd: Int32

    public init(fd: Int32) {
        self.fd = fd
    }

    public static let standardOutput = FileDescriptorWriter(fd: 1)

    public func write(_ bytes: [UInt8]) throws(WriteError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw WriteError(errno: errno)
            }
            offset += n
        }
    }
}
