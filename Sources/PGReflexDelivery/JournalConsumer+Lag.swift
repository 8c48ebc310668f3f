import Foundation
import Logging
public import PGReflexJournal
import PGReflexWire

extension JournalConsumer {
    /// A consumer's cursor and how far it is behind the journal's end (`journal inspect`, `status`).
    public struct Lag: Sendable {
        public var name: String
        public var position: EventPosition?
        public var behindRecords: Int
        /// WAL bytes between its position's commit LSN and the journal's last.
        public var behindBytes: UInt64
        public var held: [String]
        public var dropped: Int
    }

    /// Every consumer cursor of a journal (and a checkpoint.json from before named consumers),
    /// with how far each is behind, read without opening the consumers.
    public static func lags(journal directory: String) throws -> [Lag] {
        var cursors: [(String, String)] = []
        let legacy = legacyCursorPath(journal: directory)
        if FileManager.default.fileExists(atPath: legacy) { cursors.append(("sink", legacy)) }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cursorDirectory(journal: directory))) ?? []
        for file in names.sorted() where file.hasSuffix(".json") {
            let name = String(file.dropLast(5))
            cursors.append((name, cursorPath(journal: directory, consumer: name)))
        }
        guard !cursors.isEmpty else { return [] }
        let journal = try Journal(options: .init(directory: directory, readOnly: true), logger: Logger(label: "pgreflex.journal"))
        let end = journal.lastAppended
        return try cursors.map { name, path in
            guard let cursor = try Checkpoint.load(path) else {
                throw JournalError(code: .checkpointCorrupt, segment: path, message: "cannot read the consumer's cursor")
            }
            // A consumer with holds still needs the held events: it is behind from the first of them.
            let from = ([cursor.position] + cursor.held.values.map(\.position)).min()!
            var behind = 0
            let reader = JournalReader(directory: directory, after: from)
            while try reader.read(upTo: journal.durableMark, { _ in behind += 1 }) > 0 {}
            let wal = end.map { $0.commitLSN.rawValue > from.commitLSN.rawValue ? $0.commitLSN.rawValue - from.commitLSN.rawValue : 0 } ?? 0
            return Lag(name: name, position: cursor.position, behindRecords: behind, behindBytes: wal,
                       held: cursor.held.keys.sorted(), dropped: cursor.dropped)
        }
    }
}
