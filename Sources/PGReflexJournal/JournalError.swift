/// A journal problem, named by file and offset, with what to do about it.
public struct JournalError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A record in the middle of a segment fails its checksum or does not parse.
        public static let corruptRecord = Code("journal_corrupt_record")
        /// The file does not start with the journal's magic and version.
        public static let badSegmentHeader = Code("journal_bad_segment_header")
        /// Reading or writing a journal file failed.
        public static let io = Code("journal_io")
        /// The checkpoint file is damaged or not a pgreflex checkpoint.
        public static let checkpointCorrupt = Code("checkpoint_corrupt")
        /// The directory holds no journal (a wrong path, or `run` has not run with this configuration).
        public static let notFound = Code("journal_not_found")
        /// Another process holds the journal's writer lock.
        public static let locked = Code("journal_locked")
        /// A replay asked for records that retention has removed.
        public static let beforeRetention = Code("journal_before_retention")
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

    public var description: String {
        "\(code): \(segment)\(offset.map { " at byte \($0)" } ?? ""): \(message)"
    }
}
