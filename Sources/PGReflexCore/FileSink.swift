import PGReflexJournal

#if canImport(Glibc)
import Glibc
#endif

/// `run`'s built-in sink: appends each envelope as a JSON line to a file and fsyncs in groups.
/// Delivery is at least once: after a crash, events since the last checkpoint are appended
/// again, with the same `id`.
final class FileSink {
    let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        self.path = path
        // Its directory is created as the journal's is: one level, owner-only.
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            let directory = String(path[..<slash])
            if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw SinkError(code: .openFailed, path: path, errno: errno) }
        }
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SinkError(code: .openFailed, path: path, errno: errno) }
    }

    deinit {
        close(fd)
    }

    /// Buffers one envelope line until ``sync()``.
    func append(_ line: [UInt8]) {
        buffer.append(contentsOf: line)
    }

    /// Writes what is buffered and makes it durable.
    func sync() throws {
        do {
            try FileDescriptorWriter(fd: fd).write(buffer)
        } catch {
            throw SinkError(code: .writeFailed, path: path, errno: error.errno)
        }
        buffer.removeAll(keepingCapacity: true)
        guard fdatasync(fd) == 0 else { throw SinkError(code: .syncFailed, path: path, errno: errno) }
    }
}
