/// A journal problem, named by file and offset, with what to do about it.
public struct JournalError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// A record in the middle of a segment fails its checksum or does not parse.
        case corruptRecord = "journal_corrupt_record"
        /// The file does not start with the journal's magic and version.
        case badSegmentHeader = "journal_bad_segment_header"
        /// Reading or writing a journal file failed.
        case io = "journal_io"
        /// The checkpoint file is damaged or not a pgreflex checkpoint.
        case checkpointCorrupt = "checkpoint_corrupt"
        /// The directory holds no journal (a wrong path, or `run` has not run with this configuration).
        case notFound = "journal_not_found"
        /// A segment of a journal format this version does not know (written by a newer pgreflex).
        case unknownFormat = "journal_unknown_format"
        /// Another process holds the journal's writer lock.
        case locked = "journal_locked"
        /// A replay asked for records that retention has removed.
        case beforeRetention = "journal_before_retention"

        public var description: String { rawValue }
    }

    public var code: Code
    public var segment: String
    public var offset: Int?
    public var message: String

    public init(code: Code, segment: String, offset: Int? = nil, message: String) {
        self.code = code
        self.segment = segment
        self.offset = offset
        self.message = message
    }

    /// Whether trying again later can help: I/O can (a disk is freed, a file system remounted),
    /// and so can a lock another process will let go of. Damage and a wrong path need a fix.
    public var isRetryable: Bool {
        switch code {
        case .io, .locked: true
        case .corruptRecord, .badSegmentHeader, .unknownFormat, .checkpointCorrupt, .notFound, .beforeRetention: false
        }
    }

    public var description: String {
        "\(code): \(segment)\(offset.map { " at byte \($0)" } ?? ""): \(message)"
    }
}
