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
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError(code: .io, segment: path, message: "cannot open the sink file (errno \(errno))") }
    }

    deinit {
        close(fd)
    }

    func write(_ record: JournalRecord) {
        buffer.append(contentsOf: record.envelope)
    }

    func append(_ line: [UInt8]) {
        buffer.append(contentsOf: line)
    }

    /// Writes what is buffered and makes it durable.
    func sync() throws {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw JournalError(code: .io, segment: path, message: "writing the sink file failed (errno \(errno)); check free space")
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
        guard fdatasync(fd) == 0 else { throw JournalError(code: .io, segment: path, message: "fdatasync failed (errno \(errno))") }
    }
}
