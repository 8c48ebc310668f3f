#if canImport(Glibc)
import Glibc
#endif

/// The sink could not take what it was given. Not a journal problem: the journal still holds
/// every event, and the sink's checkpoint has not moved past what it made durable.
public struct SinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable, CaseIterable {
        case openFailed = "sink_open_failed"
        case writeFailed = "sink_write_failed"
        case syncFailed = "sink_sync_failed"
    }

    public var code: Code
    public var path: String
    /// The underlying `errno`.
    public var errno: Int32
    /// The configuration key that names the path (`sink.file.path`, `consumers.<name>.file.path`).
    public var setting: String

    public init(code: Code, path: String, errno: Int32, setting: String = "sink.file.path") {
        self.code = code
        self.path = path
        self.errno = errno
        self.setting = setting
    }

    /// Whether trying again later can help (a full disk can be freed; a read-only file system
    /// or a missing permission needs a change first).
    public var isRetryable: Bool {
        switch errno {
        case ENOSPC, EDQUOT, EIO, EINTR, EAGAIN: true
        default: false
        }
    }

    public var description: String {
        let action = switch code {
        case .openFailed: "cannot open the sink file"
        case .writeFailed: "writing the sink file failed"
        case .syncFailed: "making the sink file durable (fdatasync) failed"
        }
        let fix = switch errno {
        case ENOSPC, EDQUOT: "free space on that disk; nothing is lost, the journal holds the events"
        case EROFS: "the file system is read-only: point \(setting) at a writable place"
        case EACCES, EPERM: "pgreflex may not write there: fix the permissions, or point \(setting) elsewhere"
        case ENOENT, ENOTDIR: "a directory on the way does not exist: create it, or fix \(setting)"
        case EISDIR: "the path is a directory: name a file in it"
        default: "check the path and the disk"
        }
        return "\(code.rawValue): \(path): \(action) (\(String(cString: strerror(errno)))): \(fix)"
    }
}
