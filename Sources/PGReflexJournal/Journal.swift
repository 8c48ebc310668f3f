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

        public init(directory: String, segmentBytes: Int = 64 << 20) {
            self.directory = directory
            self.segmentBytes = segmentBytes
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
    }

    public let options: Options
    let logger: Logger
    private var writer: JournalSegmentWriter?
    /// The position and transaction end of the last record appended / made durable.
    public private(set) var lastAppended: EventPosition?
    public private(set) var durable: EventPosition?
    public private(set) var durableTransactionEnd: LSN?
    private var appendedTransactionEnd: LSN?

    /// Opens (creating it if need be) the journal. Verifies every segment; cuts a torn last
    /// record of the last segment, with a warning; refuses to open over corruption.
    public init(options: Options, logger: Logger) throws {
        self.options = options
        self.logger = logger
        if mkdir(options.directory, 0o700) != 0 && errno != EEXIST {
            throw JournalError(code: .io, segment: options.directory, message: "cannot create the journal directory (errno \(errno))")
        }
        let names = try Self.segmentNames(options.directory)
        for (i, name) in names.enumerated() {
            let path = options.directory + "/" + name
            var last: (EventPosition, LSN?)?
            let scan = try JournalSegment.scan(path) { record, _ in
                last = (record.position, record.transactionEnd ?? last?.1)
            }
            if let last {
                lastAppended = last.0
                if let end = last.1 { appendedTransactionEnd = end }
            }
            if scan.tornTail {
                guard i == names.count - 1 else {
                    throw JournalError(code: .corruptRecord, segment: path, offset: scan.validEnd,
                                       message: "a segment other than the last ends in a partial record; run `pgreflex journal repair`")
                }
                logger.warning("journal: cut a torn last record left by a crash", metadata: [
                    "journal.segment": "\(name)", "journal.offset": "\(scan.validEnd)", "journal.bytes_cut": "\(scan.fileSize - scan.validEnd)",
                ])
            }
            if i == names.count - 1 {
                writer = try JournalSegmentWriter(path: path, continuingAt: scan.validEnd)
            }
        }
        durable = lastAppended
        durableTransactionEnd = appendedTransactionEnd
    }

    /// Appends a record; it is durable after the next `sync`.
    public func append(_ record: JournalRecord) throws {
        if let lastAppended, record.position <= lastAppended {
            throw JournalError(code: .io, segment: options.directory,
                               message: "record \(record.position) is not after \(lastAppended): the journal is in commit order")
        }
        if writer == nil || writer!.size >= options.segmentBytes {
            try writer?.sync()
            writer = try JournalSegmentWriter(path: options.directory + "/" + Self.segmentName(for: record.position))
        }
        writer!.append(record)
        lastAppended = record.position
        if let end = record.transactionEnd { appendedTransactionEnd = end }
        if writer!.buffered >= 1 << 20 { try writer!.flush() }
    }

    /// Makes everything appended durable.
    public func sync() throws {
        try writer?.sync()
        durable = lastAppended
        durableTransactionEnd = appendedTransactionEnd
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
            _ = try JournalSegment.scan(options.directory + "/" + name) { record, _ in
                if let from, record.position < from { return }
                if let to, record.position > to { return }
                try visit(record)
            }
        }
    }

    /// Every segment with its range and whether it verifies.
    public static func inspect(directory: String) throws -> [SegmentInfo] {
        try segmentNames(directory).map { name in
            let path = directory + "/" + name
            var info = SegmentInfo(name: name, bytes: 0, records: 0)
            do {
                let scan = try JournalSegment.scan(path) { record, _ in
                    if info.first == nil { info.first = record.position }
                    info.last = record.position
                }
                info.records = scan.records
                info.bytes = scan.fileSize
                if scan.tornTail {
                    info.problem = JournalError(code: .corruptRecord, segment: path, offset: scan.validEnd,
                                                message: "ends in a partial record (cut when the journal next opens)")
                }
            } catch let error as JournalError {
                info.problem = error
            }
            return info
        }
    }

    /// Cuts each corrupt segment at its first bad record. Returns what was cut.
    public static func repair(directory: String) throws -> [(segment: String, offset: Int, bytes: Int)] {
        var cut: [(String, Int, Int)] = []
        for info in try inspect(directory: directory) {
            guard let problem = info.problem, let offset = problem.offset else { continue }
            try JournalSegment.truncate(directory + "/" + info.name, at: offset)
            cut.append((info.name, offset, info.bytes - offset))
        }
        return cut
    }

    static func segmentName(for position: EventPosition) -> String {
        let lsn = String(position.commitLSN.rawValue, radix: 16)
        let ordinal = String(position.ordinal, radix: 16)
        return String(repeating: "0", count: 16 - lsn.count) + lsn + "-" + String(repeating: "0", count: 8 - ordinal.count) + ordinal + ".seg"
    }

    static func position(ofSegment name: String) -> EventPosition? {
        let parts = name.dropLast(4).split(separator: "-")
        guard name.hasSuffix(".seg"), parts.count == 2, let lsn = UInt64(parts[0], radix: 16), let ordinal = Int(parts[1], radix: 16)
        else { return nil }
        return EventPosition(commitLSN: LSN(lsn), ordinal: ordinal)
    }

    /// Segment files, in position order (their names sort that way).
    static func segmentNames(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw JournalError(code: .io, segment: directory, message: "cannot list the journal directory (errno \(errno))")
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
