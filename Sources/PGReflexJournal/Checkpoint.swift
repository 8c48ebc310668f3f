public import PGReflexWire

/// The consumer's confirmed position, kept in one small JSON file. It is replaced atomically:
/// written to a temp file, fsynced, renamed over the old one, and the directory fsynced, so a
/// crash leaves either the old checkpoint or the new one, never a mix.
public struct Checkpoint: Equatable, Sendable {
    /// The last event handled, with everything before it.
    public var position: EventPosition
    /// The end LSN of the last whole transaction handled.
    public var transactionEnd: LSN?

    public init(position: EventPosition, transactionEnd: LSN?) {
        self.position = position
        self.transactionEnd = transactionEnd
    }

    public static func load(_ path: String) throws -> Checkpoint? {
        let object: [String: Any]?
        do {
            object = try AtomicFile.readObject(path, what: "checkpoint")
        } catch var error as JournalError {
            error.message += ". Move it away to start from the slot's confirmed position (events after it may then be delivered again)"
            throw error
        }
        guard let object else { return nil }
        guard let lsn = (object["commit_lsn"] as? String).flatMap(LSN.init), let ordinal = object["ordinal"] as? Int else {
            throw JournalError(code: .corruptRecord, segment: path, message: "the checkpoint file is not a pgreflex checkpoint. "
                + "Move it away to start from the slot's confirmed position (events after it may then be delivered again)")
        }
        let end = (object["transaction_end"] as? String).flatMap(LSN.init)
        return Checkpoint(position: EventPosition(commitLSN: lsn, ordinal: ordinal), transactionEnd: end)
    }

    public func save(_ path: String) throws {
        try AtomicFile.write("{\"version\":1,\"commit_lsn\":\"\(position.commitLSN)\",\"ordinal\":\(position.ordinal)"
            + (transactionEnd.map { ",\"transaction_end\":\"\($0)\"" } ?? "") + "}\n", to: path)
    }
}
