import Foundation
public import PGReflexWire

/// Records `pgreflex journal repair` cut out of the journal. Kept in `gaps.json` so that
/// `journal inspect` and `replay` can say what is missing instead of passing over it silently.
public struct JournalGap: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The segment that was cut, and where.
    public var segment: String
    public var offset: Int
    public var bytes: Int
    /// Records removed: the bad one and those after it that still verified (a lower bound when
    /// the bad record's length was damaged too).
    public var records: Int
    /// The last record kept before the cut, and the first record after it (in a later segment).
    public var after: EventPosition?
    public var before: EventPosition?

    /// For WAL the slot skipped (a slot recreated or advanced past the journal, accepted with
    /// `run --accept-gap`): changes committed from `walFrom` up to `walTo` were never captured.
    public var walFrom: String?
    public var walTo: String?

    public init(segment: String, offset: Int, bytes: Int, records: Int, after: EventPosition?, before: EventPosition?) {
        self.segment = segment
        self.offset = offset
        self.bytes = bytes
        self.records = records
        self.after = after
        self.before = before
    }

    /// A WAL gap: nothing was cut from a segment; the changes were never read.
    public init(walFrom: LSN, walTo: LSN, after: EventPosition?) {
        self.init(segment: "-", offset: 0, bytes: 0, records: 0, after: after ?? EventPosition(commitLSN: walFrom, ordinal: 0),
                  before: EventPosition(commitLSN: walTo, ordinal: 0))
        self.walFrom = walFrom.description
        self.walTo = walTo.description
    }

    public var description: String {
        if let walFrom, let walTo {
            return "changes committed between \(walFrom) and \(walTo) were never captured: the slot started past the journal (accepted with run --accept-gap)"
        }
        return "\(records) records (\(bytes) bytes) from \(segment) at byte \(offset), between "
            + "\(after?.description ?? "the segment's start") and \(before?.description ?? "the journal's end")"
    }

    /// Whether events with commit LSNs in `from...to` (nil: to the end) may have been in the gap.
    public func overlaps(from: EventPosition, to: EventPosition?) -> Bool {
        // The lost records lay strictly between `after` and `before`.
        let startsBeforeEnd = switch (after, to) {
        case (let after?, let to?): after < to
        default: true
        }
        let endsAfterStart = before.map { $0 > from } ?? true
        return startsBeforeEnd && endsAfterStart
    }

    static let fileName = "gaps.json"

    private struct File: Codable {
        var version = 1
        var gaps: [JournalGap]
    }

    static func load(directory: String) throws -> [JournalGap] {
        let path = directory + "/" + fileName
        let corrupt = JournalError(code: .corruptRecord, segment: path, message: "is not a pgreflex gap list: restore it, or move it away "
            + "(then inspect and replay no longer report the records earlier repairs removed)")
        guard let file = try AtomicFile.readJSON(File.self, from: path, corrupt: { corrupt }) else { return [] }
        guard file.version == 1 else { throw corrupt }
        return file.gaps
    }

    static func save(_ gaps: [JournalGap], directory: String) throws {
        try AtomicFile.writeJSON(File(gaps: gaps), to: directory + "/" + fileName, pretty: true)
    }
}

extension EventPosition: Codable {
    private enum CodingKeys: String, CodingKey {
        case commitLSN = "commit_lsn"
        case ordinal
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let text = try container.decode(String.self, forKey: .commitLSN)
        guard let lsn = LSN(text) else {
            throw DecodingError.dataCorruptedError(forKey: .commitLSN, in: container, debugDescription: "not an LSN: \(text)")
        }
        self.init(commitLSN: lsn, ordinal: try container.decode(Int.self, forKey: .ordinal))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(commitLSN.description, forKey: .commitLSN)
        try container.encode(ordinal, forKey: .ordinal)
    }
}
