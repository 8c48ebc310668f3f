import Logging
import PGReflexEnvelope
import PGReflexFiles
import PGReflexJournal
import PGReflexStatus
import PGReflexThreads
import PGReflexTransport
import PGReflexWire

/// Capture's output in `run`: each event goes into the journal; the last event of a
/// transaction carries the transaction's end LSN. The journal is fsynced in groups; after each
/// sync the durable mark is published to the consumers (``JournalChannel``), and the slot is
/// told a transaction is done. Delivery is the consumers' business, never this one's.
///
/// When the journal reaches its size bound with records a consumer has not handled, capture
/// waits (``waitForRoom()``) instead of reading more of the slot, so PostgreSQL keeps the WAL.
struct JournalingOutput: ChangeOutput {
    let journal: Journal
    let channel: JournalChannel
    let status: PipelineStatus
    var policy: GroupCommit<ContinuousClock.Instant>
    let stopRequested: @Sendable () -> Bool
    let logger: Logger
    let clock = ContinuousClock()
    var buffer = JSONWriter(capacity: 64 << 10)
    /// The latest event, held until we know whether it ends its transaction.
    private var pending: JournalRecord?
    private var causation = CausationTracker()
    /// A keepalive position reached with nothing open: confirmable once the journal is synced.
    private var caughtUpTo = LSN.invalid
    /// The furthest keepalive position written to the journal's `confirmed.json`: only that far
    /// past the last transaction is confirmed, so a slot found further on a later start has
    /// skipped WAL this journal never saw.
    private var recordedConfirmed: LSN
    private var lastConfirmedWrite: ContinuousClock.Instant?
    /// `run --accept-gap`: a slot past the journal is accepted, and the gap recorded.
    let acceptGap: Bool

    /// A wall-clock reading and the monotonic instant of it (``wallMicros(at:)``).
    private var wallBase: (at: ContinuousClock.Instant, micros: Int64)?

    /// How often a paused capture repeats its warning.
    static let fullWarningInterval = Duration.seconds(30)

    init(journal: Journal, channel: JournalChannel, policy: GroupCommit<ContinuousClock.Instant>, status: PipelineStatus,
         stopRequested: @escaping @Sendable () -> Bool, acceptGap: Bool = false, logger: Logger) throws {
        self.journal = journal
        self.acceptGap = acceptGap
        recordedConfirmed = try Journal.confirmedThrough(directory: journal.options.directory) ?? .invalid
        self.channel = channel
        self.policy = policy
        self.status = status
        self.stopRequested = stopRequested
        self.logger = logger
        try journal.sync()
        channel.publish(journal.durableMark)
    }

    var wantsFlush: Bool { false }

    mutating func lineWritten(event: ChangeEvent?, from start: Int, key: Range<Int>?) throws {
        defer { buffer.bytes.removeAll(keepingCapacity: true) }
        // Transaction BEGIN/END lines are not journaled: the records carry the transaction.
        guard let event else { return }
        // Standalone events (non-transactional messages, snapshot reads) sit at their own LSN.
        let position = event.commitLSN == .invalid
            ? EventPosition(commitLSN: event.lsn, ordinal: event.ordinal)
            : EventPosition(commitLSN: event.commitLSN, ordinal: event.ordinal)
        if let held = pending {
            pending = nil
            try append(held)
        }
        // After a restart the slot resends transactions the journal may already hold (wholly or
        // in part): positions are deterministic, so those events are skipped, not duplicated.
        if let last = journal.lastAppended, position <= last { return }
        let metadata = JournalRecord.Metadata(event, key: key.map { buffer.bytes[$0] }, causation: causation.causation(commitLSN: event.commitLSN, origin: event.origin, message: event.message))
        let record = JournalRecord(position: position, metadata: metadata, envelope: Array(buffer.bytes[start...]))
        if event.commitLSN == .invalid {
            try append(record)  // a non-transactional message or snapshot read stands alone
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
        let now = clock.now
        var record = record
        record.metadata?.journaledAt = wallMicros(at: now)
        try journal.append(record)
        if policy.appended(at: now) == .sync { try sync() }
    }

    /// The wall clock at `now`, from the monotonic reading the group commit needs anyway: the
    /// wall clock is read again once a second (it may be stepped), not for every record.
    private mutating func wallMicros(at now: ContinuousClock.Instant) -> Int64 {
        if let base = wallBase, base.at.duration(to: now) < .seconds(1) {
            let elapsed = base.at.duration(to: now).components
            return base.micros + elapsed.seconds * 1_000_000 + elapsed.attoseconds / 1_000_000_000_000
        }
        let micros = PostgresTimestamp.now().unixMicroseconds
        wallBase = (now, micros)
        return micros
    }

    mutating func caughtUp(to lsn: LSN) {
        if pending == nil { caughtUpTo = max(caughtUpTo, lsn) }
    }

    mutating func flush(final: Bool, inputDry: Bool) throws -> FlushResult {
        let durableEnd = journal.durableTransactionEnd ?? .invalid
        if final || (inputDry && policy.inputRanDry() == .sync) || policy.tick(at: clock.now) == .sync
            || (caughtUpTo > durableEnd && policy.pending > 0) {
            try sync()
        }
        journal.retentionFloor = channel.retentionFloor()
        try journal.enforceRetention(force: final)  // otherwise at most every few seconds
        let end = journal.durableTransactionEnd ?? .invalid
        // Past the last journaled transaction only when nothing is held back, and only as far as
        // confirmed.json says (written first, at most once a second).
        guard pending == nil && policy.pending == 0 else { return .confirm(end) }
        if caughtUpTo > max(end, recordedConfirmed), final || lastConfirmedWrite.map({ $0.duration(to: clock.now) >= .seconds(1) }) ?? true {
            try journal.recordConfirmed(caughtUpTo)
            recordedConfirmed = caughtUpTo
            lastConfirmedWrite = clock.now
        }
        return .confirm(max(end, min(caughtUpTo, recordedConfirmed)))
    }

    func slotReady(at position: LSN) throws {
        guard position != .invalid else { return }
        guard let floor = try journal.resumeFloor() else {
            // A new journal (or one from before confirmed.json): where this slot starts is the
            // baseline that later starts are checked against.
            try journal.recordConfirmed(max(position, journal.durableTransactionEnd ?? position))
            return
        }
        guard position > floor else { return }
        if acceptGap {
            try journal.recordWALGap(from: floor, to: position)
            logger.error("the slot starts past the journal: changes committed between the two were never captured. Accepted (--accept-gap) and recorded in the journal: journal inspect and replay report it",
                         metadata: ["journal.end": "\(floor)", "replication.slot_position": "\(position)"])
            return
        }
        throw PostgresError(
            code: .slotPastJournal,
            message: "the slot starts at \(position), past the journal's end at \(floor): changes committed between them were never "
                + "captured (the slot was dropped and created again, or another tool advanced it). Resynchronize the tables with "
                + "`pgreflex snapshot start --config FILE --tables schema.table,…`, or pass --accept-gap to go on without them "
                + "(the gap is recorded in the journal, and journal inspect and replay report it)")
    }

    private mutating func sync() throws {
        try journal.sync()
        policy.synced()
        channel.publish(journal.durableMark)
    }

    /// While the journal is full: everything appended is made durable (consumers can read it),
    /// then capture sleeps until a consumer moves and retention frees room, or a stop. It warns
    /// and names the consumer it waits for.
    mutating func waitForRoom() async throws {
        guard journal.isFull else { return }
        try sync()
        // A consumer that keeps up reads what was just synced within moments: warn about the
        // one still behind after that, not about whoever had not woken yet.
        var nextWarning = clock.now.advanced(by: .seconds(1))
        var waited = false
        while !stopRequested() {
            let seen = channel.progressed.generation
            journal.retentionFloor = channel.retentionFloor()
            try journal.enforceRetention(force: true)
            guard journal.isFull else { break }
            if !waited {
                let lagging = channel.lagging()?.name ?? "-"
                status.updateCapture {
                    $0.state = .paused
                    $0.reason = "the journal is full until consumer \(lagging) catches up"
                }
            }
            if clock.now >= nextWarning {
                nextWarning = clock.now.advanced(by: Self.fullWarningInterval)
                let lagging = channel.lagging()
                logger.warning(
                    "the journal is full: capture has stopped reading the slot (PostgreSQL keeps the WAL) until the lagging consumer catches up. Nothing is dropped. Raise journal.retention.max_bytes, speed the consumer up, or give it on_journal_full: drop_oldest",
                    metadata: ["journal.bytes": "\(journal.totalBytes)", "journal.retention.max_bytes": "\(journal.options.retention.maxBytes ?? 0)",
                               "consumer": "\(lagging?.name ?? "-")", "consumer.position": "\(lagging?.floor?.description ?? "-")"])
            }
            waited = true
            await channel.progressed.wait(since: seen, timeout: min(Self.fullWarningInterval, nextWarning - clock.now))
        }
        if waited {
            status.updateCapture {
                $0.state = .streaming
                $0.reason = nil
            }
        }
        if waited && !stopRequested() {
            logger.notice("the journal has room again: capture resumed", metadata: ["journal.bytes": "\(journal.totalBytes)"])
        }
    }
}
