import Foundation
public import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

/// The consumer's confirmed position, kept in one small JSON file. It is replaced atomically:
/// written to a temp file, fsynced, renamed over the old one, and the directory fsynced, so a
/// crash leaves either the old checkpoint or the new one, never a mix.
public struct Checkpoint: Equatable, Sendable {
    /// The last event handled, with everything before it.
    public var position: EventPosition
    /// The end LSN of the last whole transaction handled.
    public var transactionEnd: LSN?

    public init(position: EventPosition, transactionEnd: LSN?) {
        self.position = position
        self.transactionEnd = transactionEnd
    }

    public static func load(_ path: String) throws -> Checkpoint? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["version"] as? Int == 1,
              let lsn = (object["commit_lsn"] as? String).flatMap(LSN.init), let ordinal = object["ordinal"] as? Int
        else {
            throw JournalError(code: .corruptRecord, segment: path, message: "the checkpoint file is not a pgreflex checkpoint. "
                + "Move it away to start from the slot's confirmed position (events after it may then be delivered again)")
        }
        let end = (object["transaction_end"] as? String).flatMap(LSN.init)
        return Checkpoint(position: EventPosition(commitLSN: lsn, ordinal: ordinal), transactionEnd: end)
    }

    public func save(_ path: String) throws {
        let text = "{\"version\":1,\"commit_lsn\":\"\(position.commitLSN)\",\"ordinal\":\(position.ordinal)"
            + (transactionEnd.map { ",\"transaction_end\":\"\($0)\"" } ?? "") + "}\n"
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError(code: .io, segment: temporary, message: "cannot create (errno \(errno))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            throw JournalError(code: .io, segment: temporary, message: "write or fsync failed (errno \(errno)); check free space")
        }
        guard rename(temporary, path) == 0 else {
            throw JournalError(code: .io, segment: path, message: "rename failed (errno \(errno))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
    }
}
