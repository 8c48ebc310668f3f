import Logging
import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

/// Retention: which segments go (what no consumer still needs, past the size or age bound),
/// and the marker that makes a replay from before them fail clearly.
extension Journal {
    /// Throws when records at `position` may have been removed by retention.
    public func requireRetained(_ position: EventPosition) throws {
        guard let retainedFrom, position < retainedFrom else { return }
        // The oldest kept segment may begin inside a transaction: the first whole one is the
        // first commit LSN a replay can start from.
        struct Found: Error { let lsn: LSN }
        var firstWhole: LSN?
        if retainedFrom.ordinal > 0 {
            // Stops at the first whole transaction instead of reading the rest of the journal.
            do {
                try read(from: retainedFrom) { record in
                    if record.position.ordinal == 0 { throw Found(lsn: record.position.commitLSN) }
                }
            } catch let found as Found {
                firstWhole = found.lsn
            }
        }
        let from = retainedFrom.ordinal == 0 ? retainedFrom.commitLSN : firstWhole
        throw JournalError(
            code: .beforeRetention, segment: options.directory,
            message: "\(position.commitLSN) is older than the journal keeps: retention removed everything before "
                + "\(retainedFrom)" + (from.map { ". Replay from \($0) or later" } ?? ". Nothing whole is kept")
                + ", or raise journal.retention to keep more next time")
    }

    /// Removes the oldest segments past the retention limits, at most every few seconds
    /// unless `force`; returns the names removed.
    @discardableResult
    public func enforceRetention(now: Double? = nil, force: Bool = false) throws -> [String] {
        let retention = options.retention
        guard !options.readOnly, retention.maxBytes != nil || retention.maxAge != nil else { return [] }
        let clock = ContinuousClock()
        if !force, now == nil, let last = lastRetentionCheck, last.duration(to: clock.now) < .seconds(5) { return [] }
        lastRetentionCheck = clock.now
        let names = try Self.segmentNames(options.directory)
        var sizes: [(bytes: Int, modified: Double)] = []
        for name in names {
            var info = stat()
            guard stat(options.directory + "/" + name, &info) == 0 else {
                throw JournalError(code: .io, segment: options.directory + "/" + name, message: "cannot stat (\(String(cString: strerror(errno))))")
            }
            sizes.append((Int(info.st_size), Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9))
        }
        let now = now ?? Double(PostgresTimestamp.now().unixMicroseconds) / 1e6
        let maxAge = retention.maxAge.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        var total = sizes.reduce(0) { $0 + $1.bytes }
        var removable = 0
        var dropped: [DroppedSegment] = []
        // Never the segment being written, and never one holding a record a consumer still needs:
        // the next segment's first position must be at or before the floor.
        while removable + 1 < names.count, let keep = retentionFloor.keep,
              let next = Self.position(ofSegment: names[removable + 1]), next <= keep {
            // Whether a drop_oldest consumer has not read all of this segment yet.
            let passedByAll = retentionFloor.dropping.values.allSatisfy { $0.map { next <= $0 } ?? false }
            let tooBig = retention.maxBytes.map { total > $0 } ?? false
            let tooOld = passedByAll && (maxAge.map { now - sizes[removable].modified > $0 } ?? false)
            guard tooBig || tooOld else { break }
            if !passedByAll {
                dropped.append(try DroppedSegment(counting: options.directory + "/" + names[removable]))
            }
            total -= sizes[removable].bytes
            removable += 1
        }
        guard removable > 0, let floor = Self.position(ofSegment: names[removable]) else { return [] }
        // Said before the segments go: a consumer that finds them gone learns what it missed.
        if !dropped.isEmpty { try DroppedSegment.record(dropped, directory: options.directory) }
        // The floor first: a crash between the two leaves segments that are still readable but
        // refused, never a silent gap.
        try AtomicFile.writeJSON(RetentionMarker(position: floor), to: options.directory + "/" + RetentionMarker.fileName)
        retainedFrom = floor
        let removed = Array(names[..<removable])
        for name in removed { unlink(options.directory + "/" + name) }
        closedBytes -= sizes[..<removable].reduce(0) { $0 + $1.bytes }
        totalBytes = closedBytes + (writer?.size ?? 0)
        logger.info("journal retention removed segments", metadata: [
            "journal.segments_removed": "\(removed.count)", "journal.retained_from": "\(floor)", "journal.bytes": "\(total)",
        ])
        return removed
    }

    /// Where the journal in `directory` begins since retention last removed segments (nil: never).
    public static func retainedFrom(directory: String) throws -> EventPosition? {
        let path = directory + "/" + RetentionMarker.fileName
        let corrupt = JournalError(code: .corruptRecord, segment: path, message: "the retention marker does not parse; restore it or remove it")
        guard let marker = try AtomicFile.readJSON(RetentionMarker.self, from: path, corrupt: { corrupt }) else { return nil }
        return marker.position
    }
}

/// `retention.json`: `{"commit_lsn":"0/1614A28","ordinal":0,"version":1}`, the oldest position kept.
struct RetentionMarker: Codable {
    static let fileName = "retention.json"
    var position: EventPosition

    private enum CodingKeys: String, CodingKey { case version }

    init(position: EventPosition) {
        self.position = position
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard try container.decode(Int.self, forKey: .version) == 1 else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: container, debugDescription: "not version 1")
        }
        position = try EventPosition(from: decoder)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(1, forKey: .version)
        try position.encode(to: encoder)
    }
}
