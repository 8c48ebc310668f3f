import Foundation
import PGReflexFiles

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
        let data: Data
        switch BoundedFile.bytes(path, limit: maxBytes) {
        case .success(let bytes): data = Data(bytes)
        case .failure(.unreadable) where access(path, F_OK) != 0: return nil
        case .failure(.unreadable): throw JournalError(code: .io, segment: path, message: "cannot read it: check its permissions")
        case .failure: throw corrupt()
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw corrupt()
        }
    }

    /// The most a cursor, checkpoint or gap list may hold.
    static let maxBytes = 16 << 20
}
