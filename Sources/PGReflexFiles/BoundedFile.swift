import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Small files pgreflex reads whole (the configuration, its templates and key files, the
/// journal's cursors and JSON files) are read bounded: a device, a FIFO or a huge file in their
/// place is an error, never a read that does not end or fills memory.
public enum BoundedFile {
    public enum Failure: Error {
        case unreadable
        case notRegular
        case tooLarge(limit: Int)

        /// What to say after "path:".
        public var message: String {
            switch self {
            case .unreadable: "cannot read it: does it exist and is it readable?"
            case .notRegular: "is not a regular file: name a file"
            case .tooLarge(let limit): "is larger than \(limit >> 20) MiB, more than such a file ever holds: check the path"
            }
        }
    }

    /// A regular file's text (UTF-8), at most `limit` bytes.
    public static func text(_ path: String, limit: Int) -> Result<String, Failure> {
        switch bytes(path, limit: limit) {
        case .success(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else { return .failure(.unreadable) }
            return .success(text)
        case .failure(let failure):
            return .failure(failure)
        }
    }

    /// A regular file's bytes, at most `limit`; `.unreadable` when there is none.
    public static func bytes(_ path: String, limit: Int) -> Result<[UInt8], Failure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failure(.unreadable) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(.unreadable) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .failure(.notRegular) }
        guard info.st_size <= limit else { return .failure(.tooLarge(limit: limit)) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        return .success(Array(bytes[..<done]))
    }
}
