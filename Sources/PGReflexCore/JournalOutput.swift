import PGReflexJournal
import PGReflexWire

/// `run`'s output. Each event goes into the journal; the last event of a transaction carries
/// the transaction's end LSN. The journal is fsynced in groups, and only then are the events
/// delivered to the sink and, once the sink has synced them, checkpointed. The slot is told a
/// transaction is done only when the journal holds it durably.
struct JournalOutput: ChangeOutput {
    let journal: Journal
    let sink: FileSink
    let checkpointPath: String
    var policy: GroupCommit<ContinuousClock.Instant>
    var watermark: AcknowledgementWatermark
    let clock = ContinuousClock()
    var buffer = JSONWriter(capacity: 64 << 10)
    /// The latest event, held until we know whether it ends its transaction.
    private var pending: JournalRecord?
    /// Durable in the journal once synced, then delivered.
    private var undelivered: [JournalRecord] = []
    /// A keepalive position reached with nothing open: confirmable once the journal is synced.
    private var caughtUpTo = LSN.invalid

    init(journal: Journal, sink: FileSink, checkpointPath: String, policy: GroupCommit<ContinuousClock.Instant>,
         watermark: AcknowledgementWatermark) {
        self.journal = journal
        self.sink = sink
        self.checkpointPath = checkpointPath
        self.policy = policy
        self.watermark = watermark
    }

    var wantsFlush: Bool { false }

    mutating func lineWritten(event: ChangeEvent?, from start: Int) throws {
        defer { buffer.bytes.removeAll(keepingCapacity: true) }
        // Transaction BEGIN/END lines are not journaled: the records carry the transaction.
        guard let event else { return }
        let position = event.commitLSN == .invalid
            ? EventPosition(commitLSN: event.lsn, ordinal: 0)
            : EventPosition(commitLSN: event.commitLSN, ordinal: event.ordinal)
        if let held = pending {
            pending = nil
            try append(held)
        }
        // After a restart the slot resends transactions the journal may already hold (wholly or
        // in part): positions are deterministic, so those events are skipped, not duplicated.
        if let last = journal.lastAppended, position <= last { return }
        let record = JournalRecord(position: position, envelope: Array(buffer.bytes[start...]))
        if event.commitLSN == .invalid {
            try append(record)  // a non-transactional message stands alone
        } else {
            pending = record
        }
    }

    mutating func committed(_ commit: TransactionCommit) throws {
        guard var last = pending, last.position.commitLSN == commit.commitLSN else { return }
        pending = nil
        last.transactionEnd = commit.endLSN
        try append(last)
    }

    private mutating func append(_ record: JournalRecord) throws {
        try journal.append(record)
        undelivered.append(record)
        if policy.appended(at: clock.now) == .sync { try syncAndDeliver() }
    }

    mutating func caughtUp(to lsn: LSN) {
        if pending == nil { caughtUpTo = max(caughtUpTo, lsn) }
    }

    mutating func flush(final: Bool) throws -> FlushResult {
        let durableEnd = journal.durableTransactionEnd ?? .invalid
        if final || policy.tick(at: clock.now) == .sync || (caughtUpTo > durableEnd && policy.pending > 0) {
            try syncAndDeliver()
        }
        try journal.enforceRetention(force: final)  // otherwise at most every few seconds
        let end = journal.durableTransactionEnd ?? .invalid
        // Past the last journaled transaction only when nothing is held back.
        return .confirm(pending == nil && policy.pending == 0 ? max(end, caughtUpTo) : end)
    }

    private mutating func syncAndDeliver() throws {
        try journal.sync()
        policy.synced()
        guard !undelivered.isEmpty else { return }
        for record in undelivered {
            sink.write(record)
            try watermark.delivered(record.position, endsTransactionAt: record.transactionEnd)
        }
        try sink.sync()
        var advanced: EventPosition?
        for record in undelivered {
            if case .advance(let position, _) = try watermark.completed(record.position) { advanced = position }
        }
        undelivered.removeAll(keepingCapacity: true)
        if let advanced {
            try Checkpoint(position: advanced, transactionEnd: watermark.confirmedTransactionEnd).save(checkpointPath)
            journal.deliveredThrough = advanced
        }
    }
}
