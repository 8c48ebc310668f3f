#if canImport(Glibc)
import Glibc
#endif

/// The file that `run`'s built-in sink and the `file` agent write: appends each envelope as a JSON line to a file and fsyncs in groups.
/// Delivery is at least once: after a crash, events since the last checkpoint are appended
/// again, with the same `id`.
public final class FileSink {
    public let path: String
    public let setting: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    /// A pipe or a character device cannot be fsynced; only a regular file is.
    private let isRegularFile: Bool

    public init(path: String, setting: String = "sink.file.path") throws {
        self.path = path
        self.setting = setting
        // Its directory is created as the journal's is: one level, owner-only.
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            let directory = String(path[..<slash])
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw SinkError(code: .openFailed, path: path, errno: errno, setting: setting)
            }
        }
        // Read too: a partial last line is found by reading back.
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SinkError(code: .openFailed, path: path, errno: errno, setting: setting) }
        var info = stat()
        isRegularFile = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        if isRegularFile {
            cutPartialLine = try Self.cutPartialLine(fd: fd, size: Int(info.st_size), path: path, setting: setting)
            size = Int64(info.st_size) - Int64(cutPartialLine)
        } else {
            // A pipe cannot be cut: a newline ends any partial line a killed predecessor left,
            // so the first line of this session stands alone.
            buffer = [UInt8(ascii: "\n")]
        }
    }

    /// The bytes written and synced: a regular file's size.
    public private(set) var size: Int64 = 0

    /// Bytes of a partial last line cut at open: a kill mid-write leaves one. Its event is past
    /// the consumer's cursor, so it is delivered again, whole.
    public private(set) var cutPartialLine = 0

    /// Truncates the file after its last newline, if it does not end with one.
    private static func cutPartialLine(fd: Int32, size: Int, path: String, setting: String) throws -> Int {
        var end = size
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while end > 0 {
            let start = max(0, end - chunk.count)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, end - start, off_t(start)) }
            guard n == end - start else { throw SinkError(code: .openFailed, path: path, errno: n < 0 ? errno : EIO, setting: setting) }
            if let newline = chunk[..<n].lastIndex(of: UInt8(ascii: "\n")) {
                end = start + newline + 1
                break
            }
            if end == size && n > 0 && chunk[n - 1] == UInt8(ascii: "\n") { break }
            end = start
        }
        guard end < size else { return 0 }
        guard ftruncate(fd, off_t(end)) == 0, fdatasync(fd) == 0 else {
            throw SinkError(code: .writeFailed, path: path, errno: errno, setting: setting)
        }
        return size - end
    }

    deinit {
        close(fd)
    }

    /// Buffers one envelope line until ``sync()``.
    public func append(_ line: [UInt8]) {
        buffer.append(contentsOf: line)
    }

    /// Writes what is buffered and makes it durable.
    public func sync() throws {
        do {
            try FileDescriptorWriter(fd: fd).write(buffer)
        } catch {
            throw SinkError(code: .writeFailed, path: path, errno: error.errno, setting: setting)
        }
        size += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
        guard !isRegularFile || fdatasync(fd) == 0 else { throw SinkError(code: .syncFailed, path: path, errno: errno, setting: setting) }
    }

    /// The file's bytes from `offset` to its end (a regular file's).
    public func contents(from offset: Int64) throws -> [UInt8] {
        guard isRegularFile, offset < size else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(size - offset))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(offset) + off_t(done)) }
            guard n > 0 else { throw SinkError(code: .openFailed, path: path, errno: n < 0 ? errno : EIO, setting: setting) }
            done += n
        }
        return bytes
    }
}
