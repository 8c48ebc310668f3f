#if canImport(Glibc)
import Glibc
#endif

/// Follows the journal as it grows: a consumer's reader. It keeps its segment open and its
/// offset between reads, reads records in bounded chunks (never a whole segment), and reads no
/// further than the writer's ``JournalChannel/DurableMark``, so it never sees a record that a
/// crash could still take back. It does not poll: its owner sleeps on the channel between reads.
///
/// Not thread-safe: one consumer owns it. Reading needs no lock; the writer appends alongside.
public final class JournalReader {
    let directory: String
    private var file: JournalSegment.ChunkedFile?
    private var segment: String?
    private var offset = 0
    /// The open segment's size was read after the writer had moved past it: it is whole, and
    /// its size will not change (not an `fstat` per record while a consumer catches up).
    private var sizedWhole = false
    /// The last record read; reading resumes after it.
    public private(set) var position: EventPosition?
    /// Until the first record is read: whether a record at `position` itself is read.
    private var inclusive: Bool

    /// A reader of the records after `position` (nil: from the journal's first record).
    public init(directory: String, after position: EventPosition?) {
        self.directory = directory
        self.position = position
        inclusive = false
    }

    /// A reader of the records at and after `position`.
    public init(directory: String, from position: EventPosition) {
        self.directory = directory
        self.position = position
        inclusive = true
    }

    /// Reads the records after ``position`` up to `mark` (and no further than `through`, when
    /// set): at most `maxRecords`, and stops once
    /// about `maxBytes` were read. Returns how many were visited. Segments the size bound
    /// removed before this reader got to them (only past `drop_oldest` consumers) are passed to
    /// `skipped`, and reading goes on after them.
    @discardableResult
    public func read(upTo mark: JournalChannel.DurableMark, through last: EventPosition? = nil,
                     maxRecords: Int = .max, maxBytes: Int = 4 << 20,
                     skipped: ([DroppedSegment]) -> Void = { _ in },
                     _ visit: (JournalRecord) throws -> Void) throws -> Int {
        guard let lastSegment = mark.segment else { return 0 }
        var count = 0
        var bytes = 0
        while count < maxRecords && bytes < maxBytes {
            guard let file = try currentFile(upTo: lastSegment, skipped: skipped) else { break }
            // Older segments are whole: the writer synced each before starting the next.
            let isLast = segment == lastSegment
            if isLast {
                if file.size < mark.offset { try file.refreshSize() }
            } else if !sizedWhole {
                try file.refreshSize()
                sizedWhole = true
            }
            if offset == 0 {
                if isLast && mark.offset < JournalSegment.header.count { break }
                guard try JournalSegment.readHeader(file) != nil else {
                    if isLast { break }
                    self.file = nil  // created, never written (a crash): nothing in it
                    continue
                }
                offset = JournalSegment.header.count
            }
            guard let (length, crc) = try file.recordHeader(at: offset, end: isLast ? mark.offset : nil) else {
                if isLast { break }
                if offset < file.size {
                    throw JournalError(code: .corruptRecord, segment: file.path, offset: offset,
                                       message: "a segment other than the last ends in a partial record; run `pgreflex journal repair`")
                }
                self.file = nil
                continue
            }
            let record = try JournalSegment.record(file, at: offset, length: length, crc: crc)
            if let last, record.position > last { break }  // left for a later read
            offset += JournalRecord.headerSize + length
            if let position, record.position < position || (record.position == position && !inclusive) { continue }
            inclusive = false
            try visit(record)
            position = record.position
            count += 1
            bytes += length
        }
        return count
    }

    /// The open segment, or the next one to read (none past `last`, the durable one).
    private func currentFile(upTo last: String, skipped: ([DroppedSegment]) -> Void) throws -> JournalSegment.ChunkedFile? {
        if let file { return file }
        while true {
            let names = try Journal.segmentNames(directory).filter { $0 <= last }
            let next: String?
            if let segment {
                next = names.first { $0 > segment }
            } else if let position {
                // The segment holding the first record after `position`: the last one starting at or before it.
                next = names.indices.first { i in
                    !(i + 1 < names.count && (Journal.position(ofSegment: names[i + 1]).map { $0 <= position } ?? false))
                }.map { names[$0] }
            } else {
                next = names.first
            }
            guard let next else { return nil }
            let missed = try DroppedSegment.load(directory: directory).filter { dropped in
                guard dropped.segment < next else { return false }
                if let segment { return dropped.segment > segment }
                return position.map { p in dropped.last.map { $0 > p } ?? false } ?? true
            }
            do {
                let file = try JournalSegment.ChunkedFile(path: directory + "/" + next)
                if !missed.isEmpty { skipped(missed) }
                self.file = file
                segment = next
                offset = 0
                sizedWhole = false
                return file
            } catch let error as JournalError where error.code == .io && access(directory + "/" + next, F_OK) != 0 {
                continue  // removed between the listing and the open: list again
            }
        }
    }
}
