import Foundation

/// A segment the size bound removed before every consumer had read it: allowed only past
/// consumers with `on_journal_full: drop_oldest`. Kept in `dropped.json` (the newest entries)
/// so that such a consumer, finding the segment gone, counts and logs what it missed.
public struct DroppedSegment: Sendable, Equatable, Codable, CustomStringConvertible {
    public var segment: String
    public var records: Int
    public var first: EventPosition?
    public var last: EventPosition?

    public init(segment: String, records: Int, first: EventPosition?, last: EventPosition?) {
        self.segment = segment
        self.records = records
        self.first = first
        self.last = last
    }

    /// Counts a segment's records before it is removed.
    init(counting path: String) throws {
        var first: EventPosition?
        var last: EventPosition?
        let scan = try JournalSegment.scan(path, tolerant: true) { record, _ in
            if first == nil { first = record.position }
            last = record.position
        }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        self.init(segment: name, records: scan.records, first: first, last: last)
    }

    public var description: String {
        "\(records) records of \(segment) (\(first?.description ?? "-") to \(last?.description ?? "-"))"
    }

    static let fileName = "dropped.json"
    /// Entries kept: enough for any consumer still running to find the ones it skipped.
    static let kept = 4096

    private struct File: Codable {
        var version = 1
        var dropped: [DroppedSegment]
    }

    public static func load(directory: String) throws -> [DroppedSegment] {
        let path = directory + "/" + fileName
        let corrupt = JournalError(code: .corruptRecord, segment: path, message: "is not a pgreflex list of dropped segments: move it away "
            + "(drop_oldest consumers then no longer count what they skipped before now)")
        guard let file = try AtomicFile.readJSON(File.self, from: path, corrupt: { corrupt }) else { return [] }
        guard file.version == 1 else { throw corrupt }
        return file.dropped
    }

    static func record(_ new: [DroppedSegment], directory: String) throws {
        let all = (try load(directory: directory) + new).suffix(kept)
        try AtomicFile.writeJSON(File(dropped: Array(all)), to: directory + "/" + fileName)
    }
}
