import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Files the configuration names (itself, prompt templates, key files) are read whole but
/// bounded: a device, a FIFO or a huge file in their place is an error, never a read that does
/// not end or fills memory.
enum BoundedFile {
    enum Failure: Error {
        case unreadable
        case notRegular
        case tooLarge(limit: Int)

        /// What to say after "path:".
        var message: String {
            switch self {
            case .unreadable: "cannot read it: does it exist and is it readable?"
            case .notRegular: "is not a regular file: name a file"
            case .tooLarge(let limit): "is larger than \(limit >> 20) MiB, more than such a file ever holds: check the path"
            }
        }
    }

    static func text(_ path: String, limit: Int) -> Result<String, Failure> {
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
        guard let text = String(validating: bytes[..<done], as: UTF8.self) else { return .failure(.unreadable) }
        return .success(text)
    }
}
