public import Logging
public import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

/// The durable local journal: envelopes in commit order, in segment files of CRC-checked
/// records. Append-only; fsynced in groups by its owner; read back for delivery and replay.
/// Owned by one task at a time (not thread-safe).
public final class Journal {
    public struct Options: Sendable {
        public var directory: String
        /// A segment is closed and a new one started past this size.
        public var segmentBytes: Int
        public var retention: Retention
        /// Read only (replay, inspection): no lock, nothing cut or written. Several readers may
        /// share a journal with its one writer.
        public var readOnly: Bool

        public init(directory: String, segmentBytes: Int = 64 << 20, retention: Retention = .init(), readOnly: Bool = false) {
            self.directory = directory
            self.segmentBytes = segmentBytes
            self.retention = retention
            self.readOnly = readOnly
        }
    }

    /// How much of the delivered past is kept for replay. Whole segments go, oldest first, and
    /// only once every record in them has been delivered; the segment being written stays.
    public struct Retention: Sendable, Equatable {
        /// Total segment bytes to keep at most.
        public var maxBytes: Int?
        /// Segments last written longer ago than this go.
        public var maxAge: Duration?

        public init(maxBytes: Int? = nil, maxAge: Duration? = nil) {
            self.maxBytes = maxBytes
            self.maxAge = maxAge
        }
    }

    /// What retention may remove: never a record after `keep`; past a `dropping` consumer's
    /// position only for the size bound (age retention applies to what every consumer passed).
    public struct RetentionFloor: Sendable, Equatable {
        /// The slowest consumer that pauses capture (and its held events); nil: nothing may go.
        public var keep: EventPosition?
        /// Consumers with `on_journal_full: drop_oldest`, by name: how far each has handled.
        public var dropping: [String: EventPosition?]

        public init(keep: EventPosition?, dropping: [String: EventPosition?] = [:]) {
            self.keep = keep
            self.dropping = dropping
        }
    }

    /// A segment as `journal inspect` shows it.
    public struct SegmentInfo: Sendable, Equatable {
        public var name: String
        public var bytes: Int
        public var records: Int
        public var first: EventPosition?
        public var last: EventPosition?
        /// Set when the segment does not verify.
        public var problem: JournalError?
        /// With a mid-segment problem: records after it that still verify (a repair removes at least these).
        public var recordsAfterProblem = 0
    }

    public let options: Options
    let logger: Logger
    var writer: JournalSegmentWriter?
    /// The position and transaction end of the last record appended / made durable.
    public private(set) var lastAppended: EventPosition?
    public private(set) var durable: EventPosition?
    public private(set) var durableTransactionEnd: LSN?
    private var appendedTransactionEnd: LSN?
    /// Everything before this position was removed by retention (nil: nothing ever was).
    public internal(set) var retainedFrom: EventPosition?
    /// What the consumers still need; see ``RetentionFloor``.
    public var retentionFloor = RetentionFloor(keep: nil)
    /// Bytes in every segment file, the one being written included.
    public internal(set) var totalBytes = 0
    /// Bytes in the segments before the one being written.
    var closedBytes = 0
    private var lockFD: Int32 = -1
    var lastRetentionCheck: ContinuousClock.Instant?

    /// Opens (creating it if need be) the journal. Verifies the last segment, and cuts a torn
    /// last record from it with a warning; refuses to open over corruption. Earlier segments
    /// are verified as they are read (and by `inspect`).
    public init(options: Options, logger: Logger) throws {
        self.options = options
        self.logger = logger
        if !options.readOnly {
            if mkdir(options.directory, 0o700) != 0 && errno != EEXIST {
                throw JournalError(code: .io, segment: options.directory, message: "cannot create the journal directory (\(String(cString: strerror(errno))))")
            }
            lockFD = try Self.lock(options.directory)
        }
        retainedFrom = try Self.retainedFrom(directory: options.directory)
        let names = try Self.segmentNames(options.directory)
        for name in names.dropLast() { closedBytes += try Self.size(of: options.directory + "/" + name) }
        // The newest segment with a record holds the last position (a crash can leave the newest empty).
        for (i, name) in names.enumerated().reversed() {
            let path = options.directory + "/" + name
            var last: (EventPosition, LSN?)?
            let scan = try JournalSegment.scan(path) { record, _ in
                last = (record.position, record.transactionEnd ?? last?.1)
            }
            if let last {
                if lastAppended == nil { lastAppended = last.0 }
                if appendedTransactionEnd == nil { appendedTransactionEnd = last.1 }
            }
            if scan.tornTail && !options.readOnly {
                guard i == names.count - 1 else {
                    throw JournalError(code: .corruptRecord, segment: path, offset: scan.validEnd,
                                       message: "a segment other than the last ends in a partial record; run `pgreflex journal repair`")
                }
                logger.warning("journal: cut a torn last record left by a crash", metadata: [
                    "journal.segment": "\(name)", "journal.offset": "\(scan.validEnd)", "journal.bytes_cut": "\(scan.fileSize - scan.validEnd)",
                ])
            }
            // Records are appended to the last segment only in its own format: a format 1
            // segment is closed as it is, and the next record starts a new segment.
            if i == names.count - 1 && !options.readOnly {
                if scan.format == JournalSegment.format {
                    writer = try JournalSegmentWriter(path: path, continuingAt: scan.validEnd)
                } else if scan.tornTail {
                    try JournalSegment.truncate(path, at: scan.validEnd)
                }
            }
            // A transaction can span segments: go back until one ends.
            if lastAppended != nil && appendedTransactionEnd != nil { break }
        }
        durable = lastAppended
        durableTransactionEnd = appendedTransactionEnd
        if let writer {
            durableSegment = writer.name
            durableOffset = writer.size
        } else if let last = names.last {
            // The last segment was not continued (read only, or an older format): it is whole.
            if options.readOnly {
                durableSegment = last
                durableOffset = try Self.size(of: options.directory + "/" + last)
            } else {
                closedBytes += try Self.size(of: options.directory + "/" + last)
            }
        }
        totalBytes = closedBytes + (writer?.size ?? 0)
    }

    /// The segment being written and its durable length, for ``durableMark``.
    private var durableSegment: String?
    private var durableOffset = 0
    private var appendedCommitTime: Int64 = 0
    private var durableCommitTime: Int64 = 0

    /// How far the journal is durable, for readers that follow it (``JournalReader``).
    public var durableMark: JournalChannel.DurableMark {
        JournalChannel.DurableMark(position: durable, segment: durableSegment, offset: durableOffset, commitTime: durableCommitTime)
    }

    static func size(of path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw JournalError(code: .io, segment: path, message: "cannot stat (\(String(cString: strerror(errno))))")
        }
        return Int(info.st_size)
    }

    deinit {
        if lockFD >= 0 { close(lockFD) }
    }

    /// Throws `journal_locked` when another process writes the journal in `directory` (nothing
    /// when the directory does not exist yet); holds no lock after it returns.
    public static func checkUnlocked(directory: String) throws {
        guard access(directory + "/lock", F_OK) == 0 else { return }
        close(try lock(directory))
    }

    /// One writer per journal: a second `run` on the same directory would interleave records.
    /// Returns the held lock's descriptor (the lock lasts until it is closed).
    private static func lock(_ directory: String) throws -> Int32 {
        let path = directory + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError(code: .io, segment: path, message: "cannot open the lock file (\(String(cString: strerror(errno))))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw JournalError(code: .locked, segment: directory,
                               message: "another pgreflex process writes this journal. Stop it first, or give this one its own journal.directory")
        }
        return fd
    }

    /// Appends a record; it is durable after the next `sync`.
    public func append(_ record: JournalRecord) throws {
        if let lastAppended, record.position <= lastAppended {
            throw JournalError(code: .io, segment: options.directory,
                               message: "record \(record.position) is not after \(lastAppended): the journal is in commit order")
        }
        precondition(!options.readOnly, "append on a read-only journal")
        if writer == nil || writer!.size >= options.segmentBytes {
            let rolled = writer != nil
            if let writer {
                try sync()
                closedBytes += writer.size
            }
            writer = try JournalSegmentWriter(path: options.directory + "/" + Self.segmentName(for: record.position))
            if rolled { try enforceRetention(force: true) }
        }
        writer!.append(record)
        totalBytes = closedBytes + writer!.size
        lastAppended = record.position
        if let time = record.metadata?.commitTime, time > 0 { appendedCommitTime = time }
        if let end = record.transactionEnd { appendedTransactionEnd = end }
        if writer!.buffered >= 1 << 20 { try writer!.flush() }
    }

    /// Makes everything appended durable.
    public func sync() throws {
        guard let writer else { return }
        try writer.sync()
        durable = lastAppended
        durableTransactionEnd = appendedTransactionEnd
        durableCommitTime = appendedCommitTime
        durableSegment = writer.name
        durableOffset = writer.size
    }

    /// Over the size bound with records a consumer that pauses capture has not handled: capture
    /// must stop reading the slot until the consumer catches up (retention can then free room).
    public var isFull: Bool {
        guard let maxBytes = options.retention.maxBytes, totalBytes > maxBytes, let durable else { return false }
        return retentionFloor.keep.map { $0 < durable } ?? true
    }

    /// Visits records in order with `from <= position <= to` (both optional).
    public func read(from: EventPosition? = nil, to: EventPosition? = nil,
                     _ visit: (JournalRecord) throws -> Void) throws {
        try writer?.flush()
        let names = try Self.segmentNames(options.directory)
        for (i, name) in names.enumerated() {
            // A later segment starting at or before `from` means this one is wholly before it.
            if let from, i + 1 < names.count, let next = Self.position(ofSegment: names[i + 1]), next <= from { continue }
            if let to, let first = Self.position(ofSegment: name), first > to { break }
            let path = options.directory + "/" + name
            let scan = try JournalSegment.scan(path) { record, _ in
                if let from, record.position < from { return }
                if let to, record.position > to { return }
                try visit(record)
            }
            // Only the segment being written may end mid-record (a reader can race the writer).
            if scan.tornTail && i + 1 < names.count {
                throw JournalError(code: .corruptRecord, segment: path, offset: scan.validEnd,
                                   message: "a segment other than the last ends in a partial record; run `pgreflex journal repair`")
            }
        }
    }

    /// Visits the records of a journal directory with `from <= position <= to`, in order, with
    /// the segment and offset each is at (`event show`). Read only: no lock, no repair; a torn
    /// tail (the writer mid-append) ends a segment.
    public static func locate(directory: String, from: EventPosition? = nil, to: EventPosition? = nil,
                              _ visit: (JournalRecord, _ segment: String, _ offset: Int) throws -> Void) throws {
        let names = try segmentNames(directory)
        for (i, name) in names.enumerated() {
            if let from, i + 1 < names.count, let next = position(ofSegment: names[i + 1]), next <= from { continue }
            if let to, let first = position(ofSegment: name), first > to { break }
            _ = try JournalSegment.scan(directory + "/" + name) { record, offset in
                if let from, record.position < from { return }
                if let to, record.position > to { return }
                try visit(record, name, offset)
            }
        }
    }

    /// Every segment with its range and whether it verifies.
    public static func inspect(directory: String) throws -> [SegmentInfo] {
        // A missing directory is a mistake (a typo), not an empty journal.
        guard let dir = opendir(directory) else {
            throw JournalError(code: .io, segment: directory, message: "no journal directory here (\(String(cString: strerror(errno)))): check the path")
        }
        closedir(dir)
        return try segmentNames(directory).map { name in
            let path = directory + "/" + name
            var info = SegmentInfo(name: name, bytes: 0, records: 0)
            do {
                let scan = try JournalSegment.scan(path, tolerant: true) { record, _ in
                    if info.first == nil { info.first = record.position }
                    info.last = record.position
                }
                info.records = scan.records
                info.bytes = scan.fileSize
                if let corruption = scan.corruption {
                    info.problem = corruption
                    info.recordsAfterProblem = scan.recordsAfterCorruption
                } else if scan.tornTail {
                    info.problem = JournalError(code: .corruptRecord, segment: path, offset: scan.validEnd,
                                                message: "ends in a partial record (cut when the journal next opens)")
                }
            } catch let error as JournalError {
                info.problem = error
            }
            return info
        }
    }

    /// Cuts each corrupt segment at its first bad record, and records each cut as a gap
    /// (gaps.json) so that `inspect` and `replay` can say what is missing. Returns the cuts.
    public static func repair(directory: String) throws -> [JournalGap] {
        let lockFD = try lock(directory)
        defer { close(lockFD) }
        var gaps = try JournalGap.load(directory: directory)
        var cuts: [JournalGap] = []
        let segments = try inspect(directory: directory)
        for (i, info) in segments.enumerated() {
            guard let problem = info.problem, let offset = problem.offset else { continue }
            try JournalSegment.truncate(directory + "/" + info.name, at: offset)
            let gap = JournalGap(
                segment: info.name, offset: offset, bytes: info.bytes - offset,
                // The bad record, and at least those after it that still verified.
                records: info.recordsAfterProblem + 1,
                after: info.last ?? segments[..<i].reversed().lazy.compactMap(\.last).first,
                before: segments[(i + 1)...].lazy.compactMap(\.first).first)
            cuts.append(gap)
            gaps.append(gap)
        }
        if !cuts.isEmpty { try JournalGap.save(gaps, directory: directory) }
        return cuts
    }

    /// The gaps earlier repairs left.
    public static func gaps(directory: String) throws -> [JournalGap] {
        try JournalGap.load(directory: directory)
    }

    static func segmentName(for position: EventPosition) -> String {
        let lsn = String(position.commitLSN.rawValue, radix: 16)
        let ordinal = String(position.ordinal, radix: 16)
        return String(repeating: "0", count: 16 - lsn.count) + lsn + "-" + String(repeating: "0", count: 8 - ordinal.count) + ordinal + ".seg"
    }

    /// Where the oldest segment retention left begins: nothing before it can be read again.
    public static func oldestPosition(directory: String) throws -> EventPosition? {
        try segmentNames(directory).first.flatMap(position(ofSegment:))
    }

    static func position(ofSegment name: String) -> EventPosition? {
        let parts = name.dropLast(4).split(separator: "-")
        guard name.hasSuffix(".seg"), parts.count == 2, let lsn = UInt64(parts[0], radix: 16), let ordinal = Int(parts[1], radix: 16)
        else { return nil }
        return EventPosition(commitLSN: LSN(lsn), ordinal: ordinal)
    }

    /// Segment files, in position order (their names sort that way).
    /// Whether the journal in `directory` has any segment (a failed first start has none).
    public static func holdsSegments(directory: String) -> Bool {
        (try? segmentNames(directory))?.isEmpty == false
    }

    static func segmentNames(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw JournalError(code: .io, segment: directory, message: "cannot list the journal directory (\(String(cString: strerror(errno))))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if position(ofSegment: name) != nil { names.append(name) }
        }
        return names.sorted()
    }
}
