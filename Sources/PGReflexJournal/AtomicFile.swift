import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Replaces a small file atomically: a temp file is written and fsynced, renamed over the old
/// one, and the directory fsynced, so a crash leaves the old contents or the new, never a mix.
public enum AtomicFile {
    static func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError(code: .io, segment: temporary, message: "cannot create (\(String(cString: strerror(errno))))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            throw JournalError(code: .io, segment: temporary, message: "write or fsync failed (\(String(cString: strerror(errno)))); check free space")
        }
        guard rename(temporary, path) == 0 else {
            throw JournalError(code: .io, segment: path, message: "rename failed (\(String(cString: strerror(errno))))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
    }

    /// Writes a value as one line of JSON with sorted keys (or pretty-printed), atomically.
    public static func writeJSON(_ value: some Encodable, to path: String, pretty: Bool = false) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        try write(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n", to: path)
    }

    /// The file's value, nil when there is no file; `corrupt` says what to do when it does not
    /// decode.
    static func readJSON<T: Decodable>(_ type: T.Type, from path: String, corrupt: () -> JournalError) throws -> T? {
        // Bounded: these files are small, and a device or a huge file in their place must be
        // an error, not a read that never ends.
        guard let data = try boundedContents(path, limit: maxBytes, tooBig: corrupt) else { return nil }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw corrupt()
        }
    }

    /// The most a cursor, checkpoint or gap list may hold.
    static let maxBytes = 16 << 20

    /// A regular file's bytes, at most `limit`; nil when there is none.
    static func boundedContents(_ path: String, limit: Int, tooBig: () -> JournalError) throws -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw JournalError(code: .io, segment: path, message: "cannot open (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size <= limit else { throw tooBig() }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        return Data(bytes[..<done])
    }
}
