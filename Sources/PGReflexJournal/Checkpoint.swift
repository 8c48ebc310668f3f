import Foundation
public import PGReflexWire

/// The consumer's confirmed position, kept in one small JSON file. It is replaced atomically:
/// written to a temp file, fsynced, renamed over the old one, and the directory fsynced, so a
/// crash leaves either the old checkpoint or the new one, never a mix.
public struct Checkpoint: Equatable, Sendable {
    /// Where a table's events began to be held (its schema version awaits acceptance).
    public struct Hold: Equatable, Sendable {
        public var position: EventPosition
        public var version: Int

        public init(position: EventPosition, version: Int) {
            self.position = position
            self.version = version
        }
    }

    /// The last event handled, with everything before it, except the held tables' events from
    /// their hold's position on.
    public var position: EventPosition
    /// The end LSN of the last whole transaction handled.
    public var transactionEnd: LSN?
    /// Held tables, by `schema.table`.
    public var held: [String: Hold]

    public init(position: EventPosition, transactionEnd: LSN?, held: [String: Hold] = [:]) {
        self.position = position
        self.transactionEnd = transactionEnd
        self.held = held
    }

    public static func load(_ path: String) throws -> Checkpoint? {
        let object: [String: Any]?
        do {
            object = try AtomicFile.readObject(path, what: "checkpoint")
        } catch var error as JournalError {
            error.code = .checkpointCorrupt
            error.message += ". " + movingItAway
            throw error
        }
        guard let object else { return nil }
        let notCheckpoint = JournalError(code: .checkpointCorrupt, segment: path, message: "the checkpoint file is not a pgreflex checkpoint. "
            + movingItAway)
        guard let position = Self.position(object) else { throw notCheckpoint }
        var held: [String: Hold] = [:]
        if let entries = object["held"] {
            guard let entries = entries as? [String: Any] else { throw notCheckpoint }
            for (table, value) in entries {
                guard let entry = value as? [String: Any], let position = Self.position(entry), let version = entry["version"] as? Int
                else { throw notCheckpoint }
                held[table] = Hold(position: position, version: version)
            }
        }
        let end = (object["transaction_end"] as? String).flatMap(LSN.init)
        return Checkpoint(position: position, transactionEnd: end, held: held)
    }

    /// What moving a damaged checkpoint away does, as docs/delivery.md says.
    static let movingItAway = "Move it away and start again: the sink then receives every event the journal still holds "
        + "(`pgreflex journal inspect` counts them), or, with `run --if-no-checkpoint latest`, only what is journaled from then on"

    private static func position(_ object: [String: Any]) -> EventPosition? {
        guard let lsn = (object["commit_lsn"] as? String).flatMap(LSN.init), let ordinal = object["ordinal"] as? Int else { return nil }
        return EventPosition(commitLSN: lsn, ordinal: ordinal)
    }

    public func save(_ path: String) throws {
        var text = "{\"version\":1,\"commit_lsn\":\"\(position.commitLSN)\",\"ordinal\":\(position.ordinal)"
            + (transactionEnd.map { ",\"transaction_end\":\"\($0)\"" } ?? "")
        if !held.isEmpty {
            // Table names may hold any character: JSONSerialization escapes them.
            let entries = held.mapValues { hold -> [String: Any] in
                ["commit_lsn": "\(hold.position.commitLSN)", "ordinal": hold.position.ordinal, "version": hold.version]
            }
            let data = try JSONSerialization.data(withJSONObject: entries, options: [.sortedKeys, .withoutEscapingSlashes])
            text += ",\"held\":" + String(decoding: data, as: UTF8.self)
        }
        try AtomicFile.write(text + "}\n", to: path)
    }
}
