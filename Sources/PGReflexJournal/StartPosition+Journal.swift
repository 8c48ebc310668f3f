public import Logging
public import PGReflexWire

extension StartPosition {
    /// Where a consumer without a cursor begins: the position just before its first event;
    /// nil: before the journal's first event. Fails when retention removed the start.
    public func initialPosition(journalDirectory: String, consumer: String, logger: Logger) throws -> EventPosition? {
        // What the journal holds, read as `journal inspect` reads it (capture may not have opened it yet).
        var count = 0
        var first: EventPosition?
        var end: EventPosition?
        try Journal(options: .init(directory: journalDirectory, readOnly: true), logger: logger).read { record in
            count += 1
            if first == nil { first = record.position }
            end = record.position
        }
        switch self {
        case .earliest:
            if let first {
                logger.warning("the consumer has no cursor: every event the journal holds is delivered to it. To skip them, start it at latest",
                               metadata: ["consumer": "\(consumer)", "journal.events": "\(count)", "journal.from": "\(first)"])
            }
            return nil
        case .latest:
            if let end {
                logger.warning("the consumer has no cursor: it starts at the journal's end (start: latest); the events before it are not delivered to it",
                               metadata: ["consumer": "\(consumer)", "journal.skipped_events": "\(count)", "journal.to": "\(end)"])
            }
            return end
        case .lsn(let lsn):
            if let retained = try Journal.retainedFrom(directory: journalDirectory), lsn < retained.commitLSN {
                throw JournalError(code: .beforeRetention, segment: journalDirectory,
                                   message: "consumer \(consumer) is to start at \(lsn), but retention removed everything before "
                                       + "\(retained): start it at \(retained.commitLSN) or later, or at earliest")
            }
            logger.info("the consumer has no cursor: it starts at the configured LSN", metadata: ["consumer": "\(consumer)", "consumer.start_lsn": "\(lsn)"])
            return Self.before(lsn)
        }
    }

    /// Just before the transaction committed at `lsn`: its first event is the first delivered.
    public static func before(_ lsn: LSN) -> EventPosition? {
        lsn.rawValue == 0 ? nil : EventPosition(commitLSN: LSN(lsn.rawValue - 1), ordinal: Int(UInt32.max))
    }
}
