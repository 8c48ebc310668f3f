import PGReflexFiles
import PGReflexJournal
import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

/// Where the messages of in-progress streamed transactions wait for their commit: one nameless
/// file per transaction in TMPDIR (``NamelessFile``), written through a small buffer. Nothing here
/// needs to survive a crash (the slot resends an unconfirmed transaction), so nothing is fsynced.
struct StreamedTransactionSpill {
    struct SpillError: Error, CustomStringConvertible {
        var message: String
        var description: String { "spilling a large streamed transaction to disk failed: \(message). Check free space in TMPDIR" }
    }

    private struct Held {
        var fd: Int32
        /// What messages call it (the file has no name).
        var label: String
        var buffer: [UInt8] = []
        var abortedSubtransactions: Set<UInt32> = []
    }

    static let bufferLimit = 256 << 10
    private let base: String
    private var held: [UInt32: Held] = [:]

    init() {
        base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
    }

    /// No streamed transaction is waiting for its commit.
    var isEmpty: Bool { held.isEmpty }

    /// Appends one message (its LSN and bytes) to `xid`'s file.
    mutating func hold(xid: UInt32, lsn: LSN, storage: [UInt8], range: Range<Int>) throws {
        if held[xid] == nil {
            // Nameless: no crash (not even kill -9) leaves these bytes (raw row values, before
            // any privacy policy) or a file behind.
            let fd = NamelessFile.open(in: base, prefix: "pgreflex-spill-\(xid)-")
            guard fd >= 0 else { throw SpillError(message: "cannot create a file in \(base) (\(String(cString: strerror(errno))))") }
            held[xid] = Held(fd: fd, label: "the spill file of transaction \(xid) in \(base)")
        }
        var length = UInt32(range.count).littleEndian
        var position = lsn.rawValue.littleEndian
        withUnsafeBytes(of: &length) { held[xid]!.buffer.append(contentsOf: $0) }
        withUnsafeBytes(of: &position) { held[xid]!.buffer.append(contentsOf: $0) }
        held[xid]!.buffer.append(contentsOf: storage[range])
        if held[xid]!.buffer.count >= Self.bufferLimit { try flush(xid) }
    }

    private mutating func flush(_ xid: UInt32) throws {
        guard var entry = held[xid], !entry.buffer.isEmpty else { return }
        do {
            try FileDescriptorWriter(fd: entry.fd).write(entry.buffer)
        } catch {
            throw SpillError(message: "write to \(entry.label) failed (\(String(cString: strerror(error.errno))))")
        }
        entry.buffer.removeAll(keepingCapacity: true)
        held[xid] = entry
    }

    /// Forgets a subtransaction's messages (they are skipped at replay), or the whole transaction's.
    mutating func discard(xid: UInt32, subxid: UInt32) {
        if xid == subxid {
            if let entry = held.removeValue(forKey: xid) { close(entry.fd) }
        } else {
            held[xid]?.abortedSubtransactions.insert(subxid)
        }
    }

    /// Hands `xid`'s messages over for replay, in the order they were held.
    mutating func release(xid: UInt32) throws -> (reader: Reader, abortedSubtransactions: Set<UInt32>) {
        try flush(xid)
        guard let entry = held.removeValue(forKey: xid) else { return (Reader(fd: -1, label: "spill file"), []) }
        lseek(entry.fd, 0, SEEK_SET)
        return (Reader(fd: entry.fd, label: entry.label), entry.abortedSubtransactions)
    }

    /// Removes every file and the directory.
    mutating func removeAll() {
        for xid in Array(held.keys) { discard(xid: xid, subxid: xid) }
    }

    /// Reads held messages back; closes and removes the file when done.
    struct Reader {
        private var fd: Int32
        private let label: String
        private var buffer: [UInt8] = []
        private var start = 0

        init(fd: Int32, label: String) {
            self.fd = fd
            self.label = label
        }

        mutating func next() throws -> (lsn: LSN, bytes: [UInt8])? {
            guard fd >= 0 else { return nil }
            guard try fill(12) else {
                finish()
                return nil
            }
            let length = buffer[start..<(start + 4)].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
            let lsn = buffer[(start + 4)..<(start + 12)].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            guard try fill(12 + Int(length)) else { throw SpillError(message: "\(label) ends inside a record") }
            let bytes = Array(buffer[(start + 12)..<(start + 12 + Int(length))])
            start += 12 + Int(length)
            return (LSN(lsn), bytes)
        }

        /// Makes `count` bytes available from `start`; false at a clean end of file.
        private mutating func fill(_ count: Int) throws -> Bool {
            if start > 0 && start >= buffer.count / 2 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            while buffer.count - start < count {
                var chunk = [UInt8](repeating: 0, count: max(Self.chunk, count))
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SpillError(message: "read from \(label) failed (\(String(cString: strerror(errno))))")
                }
                if n == 0 {
                    if buffer.count - start == 0 { return false }
                    throw SpillError(message: "\(label) ends inside a record")
                }
                buffer.append(contentsOf: chunk[0..<n])
            }
            return true
        }

        static let chunk = 256 << 10

        private mutating func finish() {
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }
}
