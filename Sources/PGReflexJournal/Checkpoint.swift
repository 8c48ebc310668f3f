import Foundation
public import PGReflexWire

/// A consumer's cursor: how far it has handled the journal, kept in one small JSON file
/// (`journal/consumers/<name>.json`). It is replaced atomically:
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
    /// Records this consumer never received because the size bound removed them first
    /// (`on_journal_full: drop_oldest`), in all.
    public var dropped: Int

    public init(position: EventPosition, transactionEnd: LSN?, held: [String: Hold] = [:], dropped: Int = 0) {
        self.position = position
        self.transactionEnd = transactionEnd
        self.held = held
        self.dropped = dropped
    }

    public static func load(_ path: String) throws -> Checkpoint? {
        try AtomicFile.readJSON(Checkpoint.self, from: path) {
            JournalError(code: .checkpointCorrupt, segment: path, message: "the checkpoint file is not a pgreflex checkpoint. " + movingItAway)
        }
    }

    /// What moving a damaged checkpoint away does, as docs/delivery.md says.
    static let movingItAway = "Move it away and start again: the consumer then starts where its `start` says (earliest: every "
        + "event the journal still holds, which `pgreflex journal inspect` counts; latest: only what is journaled from then on)"

    public func save(_ path: String) throws {
        try AtomicFile.writeJSON(self, to: path)
    }
}

/// `{"version":1,"commit_lsn":"0/16B3748","ordinal":3,"transaction_end":"0/16B37A0","held":{…}}`:
/// the position flat at the top, each hold as a position and the version it waits for.
extension Checkpoint: Codable {
    private enum CodingKeys: String, CodingKey {
        case version, held, dropped
        case transactionEnd = "transaction_end"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard try container.decode(Int.self, forKey: .version) == 1 else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: container, debugDescription: "not format 1")
        }
        position = try EventPosition(from: decoder)
        transactionEnd = try container.decodeIfPresent(String.self, forKey: .transactionEnd).map { text in
            guard let lsn = LSN(text) else {
                throw DecodingError.dataCorruptedError(forKey: .transactionEnd, in: container, debugDescription: "not an LSN")
            }
            return lsn
        }
        held = try container.decodeIfPresent([String: Hold].self, forKey: .held) ?? [:]
        dropped = try container.decodeIfPresent(Int.self, forKey: .dropped) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(1, forKey: .version)
        try position.encode(to: encoder)
        try container.encodeIfPresent(transactionEnd?.description, forKey: .transactionEnd)
        if !held.isEmpty { try container.encode(held, forKey: .held) }
        if dropped > 0 { try container.encode(dropped, forKey: .dropped) }
    }
}

extension Checkpoint.Hold: Codable {
    private enum CodingKeys: String, CodingKey { case version }

    public init(from decoder: any Decoder) throws {
        position = try EventPosition(from: decoder)
        version = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .version)
    }

    public func encode(to encoder: any Encoder) throws {
        try position.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
    }
}
