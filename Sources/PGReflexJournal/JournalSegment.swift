#if canImport(Glibc)
import Glibc
import PGReflexFiles
#endif

/// One segment file of the journal: a header, then framed records (``JournalRecord``).
public enum JournalSegment {
    /// The format new segments are written in: 4, records whose metadata says when capture
    /// journaled them (3: without it; 2: without who caused the event either).
    public static let format: UInt8 = 4
    /// `PGRJ` and the format version.
    public static let header: [UInt8] = Array("PGRJ".utf8) + [format, 0, 0, 0]
    /// Formats this version reads: 1 (no metadata), 2, 3 and 4.
    static let readableFormats: ClosedRange<UInt8> = 1...4

    /// The format of a segment's header; nil when it is not a pgreflex segment header.
    static func format(ofHeader bytes: ArraySlice<UInt8>) -> UInt8? {
        guard bytes.count >= header.count, bytes.starts(with: header.prefix(4)),
              bytes[bytes.startIndex + 5] == 0, bytes[bytes.startIndex + 6] == 0, bytes[bytes.startIndex + 7] == 0
        else { return nil }
        return bytes[bytes.startIndex + 4]
    }

    /// What a scan found.
    public struct Scan: Sendable, Equatable {
        public var records: Int
        /// Offset just past the last good record.
        public var validEnd: Int
        public var fileSize: Int
        /// With `tolerant`: the corruption that ended the scan. Records from `validEnd` on are not read.
        public var corruption: JournalError?
        /// With `tolerant` and `corruption`: records after the bad one that still verify, found by
        /// following the length fields past it (a lower bound of what a repair removes).
        public var recordsAfterCorruption = 0
        /// The segment's format (1: records without metadata).
        public var format = JournalSegment.format
        /// A partial last record (a crash mid-write): the bytes from `validEnd` on are not a record.
        public var tornTail: Bool { validEnd < fileSize && corruption == nil }
    }

    /// Reads and verifies every record, in order. A torn last record (short, or failing its
    /// checksum with nothing after it) ends the scan with `tornTail`; a bad record with more
    /// after it is corruption, and throws with the segment and offset.
    ///
    /// `tolerant` (for `journal inspect` and `repair`): corruption ends the scan and is returned
    /// in `Scan.corruption`, with the records read up to it, instead of being thrown.
    public static func scan(_ path: String, tolerant: Bool = false,
                            visit: (JournalRecord, _ offset: Int) throws -> Void = { _, _ in }) throws -> Scan {
        let reader = try ChunkedFile(path: path)
        let fileSize = reader.size
        guard let format = try readHeader(reader) else { return Scan(records: 0, validEnd: 0, fileSize: fileSize) }
        var offset = header.count
        var records = 0
        while let (length, crc) = try reader.recordHeader(at: offset) {
            let payload = try reader.bytes(at: offset + JournalRecord.headerSize, count: length)
            let isLast = offset + JournalRecord.headerSize + length == fileSize
            guard CRC32C.checksum(payload) == crc, let record = JournalRecord.decode(payload: payload) else {
                if isLast { break }
                let error = JournalError(
                    code: .corruptRecord, segment: path, offset: offset,
                    message: "a record fails its CRC32C checksum with more records after it. Nothing was dropped: "
                        + "`pgreflex journal repair` truncates the segment here (the records after it are lost from the "
                        + "journal, and are re-read from the slot if it still has them)")
                guard tolerant else { throw error }
                return Scan(records: records, validEnd: offset, fileSize: fileSize, corruption: error,
                            recordsAfterCorruption: try verifiableRecords(reader, after: offset + JournalRecord.headerSize + length),
                            format: format)
            }
            try visit(record, offset)
            records += 1
            offset += JournalRecord.headerSize + length
        }
        return Scan(records: records, validEnd: offset, fileSize: fileSize, format: format)
    }

    /// The segment's format, checked readable; nil when the header is not whole yet (a crash
    /// while creating the segment, or a reader racing the writer).
    static func readHeader(_ reader: ChunkedFile) throws -> UInt8? {
        if reader.size < header.count {
            let bytes = try reader.bytes(at: 0, count: reader.size)
            if header.starts(with: bytes) { return nil }
            throw JournalError(code: .badSegmentHeader, segment: reader.path, offset: 0,
                               message: "not a pgreflex journal segment (bad header); move it out of the journal directory")
        }
        guard let format = Self.format(ofHeader: try reader.bytes(at: 0, count: header.count)) else {
            throw JournalError(code: .badSegmentHeader, segment: reader.path, offset: 0,
                               message: "not a pgreflex journal segment; move it out of the journal directory")
        }
        guard readableFormats.contains(format) else {
            throw JournalError(code: .unknownFormat, segment: reader.path, offset: 0,
                               message: "journal format \(format) was written by a newer pgreflex (this one reads formats "
                                   + "\(readableFormats.lowerBound) to \(readableFormats.upperBound)): run that version, or move the journal away")
        }
        return format
    }

    /// The record at `offset` (whose header `recordHeader` found), verified; throws on corruption.
    static func record(_ reader: ChunkedFile, at offset: Int, length: Int, crc: UInt32) throws -> JournalRecord {
        let payload = try reader.bytes(at: offset + JournalRecord.headerSize, count: length)
        guard CRC32C.checksum(payload) == crc, let record = JournalRecord.decode(payload: payload) else {
            throw JournalError(code: .corruptRecord, segment: reader.path, offset: offset,
                               message: "a durable record fails its CRC32C checksum: run `pgreflex journal inspect`, then `journal repair`")
        }
        return record
    }

    /// Records from `offset` on that verify, following the length fields until one does not.
    private static func verifiableRecords(_ reader: ChunkedFile, after offset: Int) throws -> Int {
        var offset = offset
        var count = 0
        while let (length, crc) = try reader.recordHeader(at: offset) {
            guard CRC32C.checksum(try reader.bytes(at: offset + JournalRecord.headerSize, count: length)) == crc else { break }
            count += 1
            offset += JournalRecord.headerSize + length
        }
        return count
    }

    /// A segment read forward in bounded chunks: memory stays at about one chunk (or one record,
    /// when a record is larger), never the whole segment. A tailing reader calls `refreshSize`
    /// as the writer appends.
    final class ChunkedFile {
        static let chunkSize = 1 << 20
        let path: String
        private let fd: Int32
        private(set) var size: Int
        private var buffer: [UInt8] = []
        /// The file offset of `buffer[0]`.
        private var bufferStart = 0

        init(path: String) throws {
            self.path = path
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw JournalError(code: .io, segment: path, message: "cannot open (\(String(cString: strerror(errno))))") }
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                let error = errno
                close(fd)
                throw JournalError(code: .io, segment: path, message: "cannot stat (\(String(cString: strerror(error))))")
            }
            size = Int(info.st_size)
        }

        deinit {
            close(fd)
        }

        /// Learns how far the file has grown since it was opened.
        func refreshSize() throws {
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                throw JournalError(code: .io, segment: path, message: "cannot stat (\(String(cString: strerror(errno))))")
            }
            size = Int(info.st_size)
        }

        /// A record's length and checksum at `offset`, or nil when no whole record fits in the
        /// file from there (the end, or a torn tail).
        /// `end`: read no further than this offset (what is known durable), when set.
        func recordHeader(at offset: Int, end: Int? = nil) throws -> (length: Int, crc: UInt32)? {
            let end = min(size, end ?? size)
            guard end - offset >= JournalRecord.headerSize else { return nil }
            let header = try bytes(at: offset, count: JournalRecord.headerSize)
            let length = Int(JournalRecord.load(UInt32.self, header, header.startIndex))
            guard end - offset - JournalRecord.headerSize >= length else { return nil }
            return (length, JournalRecord.load(UInt32.self, header, header.startIndex + 4))
        }

        /// `count` bytes from `offset`, which must lie within the file. Reads forward only.
        func bytes(at offset: Int, count: Int) throws -> ArraySlice<UInt8> {
            if offset < bufferStart || offset + count > bufferStart + buffer.count {
                // Keep the unread tail, then fill at least one chunk past what is asked.
                if offset >= bufferStart && offset <= bufferStart + buffer.count {
                    buffer.removeFirst(offset - bufferStart)
                } else {
                    buffer.removeAll(keepingCapacity: true)
                }
                bufferStart = offset
                let want = min(max(count, Self.chunkSize), size - offset)
                while buffer.count < want {
                    let start = buffer.count
                    buffer.append(contentsOf: repeatElement(0, count: want - start))
                    let n = buffer.withUnsafeMutableBytes { raw in
                        pread(fd, raw.baseAddress! + start, want - start, off_t(bufferStart + start))
                    }
                    if n <= 0 {
                        buffer.removeLast(want - start)
                        if n < 0 && errno == EINTR { continue }
                        throw JournalError(code: .io, segment: path, offset: bufferStart + start,
                                           message: "read failed (\(n == 0 ? "the file ended early" : String(cString: strerror(errno))))")
                    }
                    buffer.removeLast(want - start - n)
                }
            }
            let from = offset - bufferStart
            return buffer[from..<(from + count)]
        }
    }

    /// Cuts a segment at `offset` (a torn tail, or on `journal repair`) and syncs it.
    public static func truncate(_ path: String, at offset: Int) throws {
        guard Glibc.truncate(path, off_t(offset)) == 0 else {
            throw JournalError(code: .io, segment: path, offset: offset, message: "truncate failed (\(String(cString: strerror(errno))))")
        }
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// Appends records to one segment. Appends are buffered; `flush` writes them, `sync` makes
/// them durable (fdatasync). Owned by one writer; not thread-safe.
public final class JournalSegmentWriter {
    public let path: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    /// Bytes in the file once everything buffered is written.
    public private(set) var size: Int

    /// Creates a new segment (its header is written at once) or continues one from `validEnd`,
    /// cutting a torn tail first.
    public init(path: String, continuingAt validEnd: Int? = nil) throws {
        self.path = path
        if let validEnd {
            try JournalSegment.truncate(path, at: max(validEnd, JournalSegment.header.count))
        }
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError(code: .io, segment: path, message: "cannot open for writing (\(String(cString: strerror(errno))))") }
        if let validEnd, validEnd >= JournalSegment.header.count {
            size = validEnd
        } else {
            size = 0
            if validEnd != nil { _ = Glibc.ftruncate(fd, 0) }
            buffer = JournalSegment.header
            size = buffer.count
        }
    }

    deinit {
        close(fd)
    }

    public func append(_ record: JournalRecord) {
        let before = buffer.count
        record.encode(into: &buffer)
        size += buffer.count - before
    }

    public var buffered: Int { buffer.count }

    /// The segment's file name, without its directory.
    public var name: String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    public func flush() throws {
        do {
            try FileDescriptorWriter(fd: fd).write(buffer)
        } catch {
            throw JournalError(code: .io, segment: path, message: "write failed (\(String(cString: strerror(error.errno)))); check free space")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    public func sync() throws {
        try flush()
        guard fdatasync(fd) == 0 else {
            throw JournalError(code: .io, segment: path, message: "fdatasync failed (\(String(cString: strerror(errno))))")
        }
    }
}
