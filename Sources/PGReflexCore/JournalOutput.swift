import Logging
import PGReflexJournal
import PGReflexSchema
import PGReflexWire

/// `run`'s output. Each event goes into the journal; the last event of a transaction carries
/// the transaction's end LSN. The journal is fsynced in groups, and only then are the events
/// delivered to the sink and, once the sink has synced them, checkpointed. The slot is told a
/// transaction is done only when the journal holds it durably.
///
/// Events of a table whose schema version awaits acceptance are journaled but not delivered
/// (`SchemaHolds`); the checkpoint records where each hold began, and the registry is polled
/// until the version is accepted.
struct JournalOutput: ChangeOutput {
    let journal: Journal
    let sink: FileSink
    let checkpointPath: String
    var policy: GroupCommit<ContinuousClock.Instant>
    private var watermark = AcknowledgementWatermark()
    private var holds: SchemaHolds<ContinuousClock.Instant>
    let registryDirectory: String
    let logger: Logger
    let clock = ContinuousClock()
    var buffer = JSONWriter(capacity: 64 << 10)
    /// The latest event, held until we know whether it ends its transaction.
    private var pending: JournalRecord?
    /// Durable in the journal once synced, then delivered (or, when held, only checkpointed).
    private var undelivered: [(record: JournalRecord, deliver: Bool)] = []
    /// A hold began or ended since the checkpoint was written.
    private var holdsChanged = false
    private var nextRegistryPoll: ContinuousClock.Instant
    /// A keepalive position reached with nothing open: confirmable once the journal is synced.
    private var caughtUpTo = LSN.invalid

    /// How often the registry is read while a table is held.
    static let registryPollInterval = Duration.seconds(1)
    /// The checkpoint position before any event: a hold can begin before anything is delivered.
    static let origin = EventPosition(commitLSN: .invalid, ordinal: 0)

    /// Where the sink starts when it has no checkpoint.
    let ifNoCheckpoint: StartPosition

    init(journal: Journal, sink: FileSink, checkpointPath: String, policy: GroupCommit<ContinuousClock.Instant>,
         schemaVersionPolicy: SchemaVersionPolicy, registryDirectory: String, ifNoCheckpoint: StartPosition = .earliest,
         logger: Logger) {
        self.ifNoCheckpoint = ifNoCheckpoint
        self.journal = journal
        self.sink = sink
        self.checkpointPath = checkpointPath
        self.policy = policy
        self.registryDirectory = registryDirectory
        self.logger = logger
        holds = SchemaHolds(policy: schemaVersionPolicy, accepted: [:], now: clock.now)
        nextRegistryPoll = clock.now
    }

    /// Brings the sink up to the journal after a start or a reconnect: what is appended is
    /// synced, then everything after the checkpoint is delivered (held tables' events stay
    /// held), and holds whose version was accepted meanwhile are released.
    mutating func resume() throws {
        try journal.sync()
        var checkpoint = try Checkpoint.load(checkpointPath)
        var startedWithoutCheckpoint = false
        if checkpoint == nil {
            checkpoint = try startWithoutCheckpoint()
            startedWithoutCheckpoint = checkpoint != nil
        }
        holds = SchemaHolds(policy: holds.policy, accepted: try acceptedVersions() ?? [:], restoring: checkpoint?.held ?? [:],
                            now: clock.now)
        var last = checkpoint.map { (position: $0.position, transactionEnd: $0.transactionEnd) }
        var delivered = 0
        let now = clock.now
        let from = [checkpoint?.position, holds.floor].compactMap { $0 }.min()
        try journal.read(from: from) { record in
            let isNew = checkpoint.map { record.position > $0.position } ?? true
            guard isNew else {
                // Delivered already, unless its table is held from before it (then it counts as held).
                if holds.isEnabled, let metadata = record.resolvedMetadata, let since = holds.holds[metadata.table]?.since,
                   record.position >= since {
                    _ = holds.route(table: metadata.table, version: metadata.schemaVersion, at: record.position, now: now)
                }
                return
            }
            last = (record.position, record.transactionEnd ?? last?.transactionEnd)
            if !routes(record) { return }
            sink.append(record.envelope)
            delivered += 1
            if delivered % 4096 == 0 { try sink.sync() }
        }
        try sink.sync()
        watermark = AcknowledgementWatermark(resumingAfter: last?.position, transactionEnd: last?.transactionEnd)
        if startedWithoutCheckpoint || last?.position != checkpoint?.position || holds.checkpointed != checkpoint?.held ?? [:] {
            try saveCheckpoint()
        } else {
            keepUndelivered()
        }
        if delivered > 0 { logger.info("delivered the journal's backlog", metadata: ["journal.events": "\(delivered)"]) }
        try releaseAccepted()
        try journal.enforceRetention(force: true)
    }

    /// With no checkpoint (a new sink, or its checkpoint deleted) and a journal that holds
    /// events, says how many the sink is about to receive again and from where, or, with
    /// `--if-no-checkpoint latest`, returns a checkpoint at the journal's end to skip them.
    private func startWithoutCheckpoint() throws -> Checkpoint? {
        var count = 0
        var first: EventPosition?
        var last: (position: EventPosition, transactionEnd: LSN?)?
        try journal.read(from: nil) { record in
            count += 1
            if first == nil { first = record.position }
            last = (record.position, record.transactionEnd ?? last?.transactionEnd)
        }
        guard let first, let last else { return nil }
        switch ifNoCheckpoint {
        case .earliest:
            logger.warning(
                "no checkpoint: every event the journal holds is delivered to the sink again. To skip them, start with --if-no-checkpoint latest",
                metadata: ["journal.checkpoint": "\(checkpointPath)", "journal.events": "\(count)", "journal.from": "\(first)"])
            return nil
        case .latest:
            logger.warning("no checkpoint: the sink starts at the journal's end (--if-no-checkpoint latest); the events before it are not delivered",
                           metadata: ["journal.checkpoint": "\(checkpointPath)", "journal.skipped_events": "\(count)", "journal.to": "\(last.position)"])
            return Checkpoint(position: last.position, transactionEnd: last.transactionEnd)
        }
    }

    var wantsFlush: Bool { false }

    mutating func lineWritten(event: ChangeEvent?, from start: Int, key: Range<Int>?) throws {
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
        let record = JournalRecord(position: position, metadata: JournalRecord.Metadata(event, key: key.map { buffer.bytes[$0] }),
                                   envelope: Array(buffer.bytes[start...]))
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
        let deliver = routes(record)
        undelivered.append((record, deliver))
        if policy.appended(at: clock.now) == .sync { try syncAndDeliver() }
    }

    /// Whether a record is delivered now: always, unless holds apply to its table.
    private mutating func routes(_ record: JournalRecord) -> Bool {
        guard holds.isEnabled, let metadata = record.resolvedMetadata, !metadata.table.isEmpty else { return true }
        return route(table: metadata.table, version: metadata.schemaVersion, at: record.position)
    }

    /// Whether an event of this table is delivered now; alerts when a hold begins.
    private mutating func route(table: String, version: Int?, at position: EventPosition) -> Bool {
        switch holds.route(table: table, version: version, at: position, now: clock.now) {
        case .deliver:
            return true
        case .hold:
            return false
        case .beginHold:
            holdsChanged = true
            logger.error("holding the table's events: its schema version is not accepted. Review the change, then accept it", metadata: [
                "table": "\(table)", "schema.version": "\(version ?? 0)", "journal.held_from": "\(position)",
                "hint": "pgreflex schema accept --registry \(registryDirectory) --table \(table) --version \(version ?? 0)",
            ])
            return false
        }
    }

    mutating func caughtUp(to lsn: LSN) {
        if pending == nil { caughtUpTo = max(caughtUpTo, lsn) }
    }

    mutating func flush(final: Bool) throws -> FlushResult {
        let durableEnd = journal.durableTransactionEnd ?? .invalid
        if final || policy.tick(at: clock.now) == .sync || (caughtUpTo > durableEnd && policy.pending > 0) {
            try syncAndDeliver()
        }
        if !holds.holds.isEmpty { try watchHolds() }
        try journal.enforceRetention(force: final)  // otherwise at most every few seconds
        let end = journal.durableTransactionEnd ?? .invalid
        // Past the last journaled transaction only when nothing is held back.
        return .confirm(pending == nil && policy.pending == 0 ? max(end, caughtUpTo) : end)
    }

    private mutating func syncAndDeliver() throws {
        try journal.sync()
        policy.synced()
        guard !undelivered.isEmpty else { return }
        for (record, deliver) in undelivered where deliver {
            sink.append(record.envelope)
            try watermark.delivered(record.position, endsTransactionAt: record.transactionEnd)
        }
        try sink.sync()
        var advanced = false
        for (record, deliver) in undelivered where deliver {
            if case .advance = try watermark.completed(record.position) { advanced = true }
        }
        undelivered.removeAll(keepingCapacity: true)
        if advanced || holdsChanged { try saveCheckpoint() }
    }

    /// Everything delivered (or held, as the holds say) is recorded; retention keeps the rest.
    private mutating func saveCheckpoint() throws {
        let position = watermark.confirmed ?? Self.origin
        try Checkpoint(position: position, transactionEnd: watermark.confirmedTransactionEnd, held: holds.checkpointed)
            .save(checkpointPath)
        holdsChanged = false
        keepUndelivered()
    }

    /// Retention keeps everything after the checkpoint and every held event.
    private func keepUndelivered() {
        let position = watermark.confirmed ?? Self.origin
        journal.deliveredThrough = holds.floor.map { min($0, position) } ?? position
    }

    /// While a table is held: reminds the operator, and reads the registry for an acceptance.
    private mutating func watchHolds() throws {
        let now = clock.now
        for (table, hold) in holds.remind(now: now) {
            logger.error("still holding the table's events until its schema version is accepted", metadata: [
                "table": "\(table)", "schema.version": "\(hold.version)", "journal.held_events": "\(hold.events)",
                "journal.held_from": "\(hold.since)",
                "hint": "pgreflex schema accept --registry \(registryDirectory) --table \(table) --version \(hold.version)",
            ])
        }
        guard now >= nextRegistryPoll else { return }
        nextRegistryPoll = now.advanced(by: Self.registryPollInterval)
        try releaseAccepted()
    }

    /// The registry's accepted versions; nil (with a warning) when it cannot be read just now.
    private func acceptedVersions() throws -> [String: Int]? {
        do {
            return try SchemaRegistry.acceptedVersions(directory: registryDirectory)
        } catch {
            logger.warning("cannot read the schema registry; held tables stay held", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Delivers the held events of tables whose version is now accepted (or that are no longer
    /// configured to hold), in commit order, from the journal.
    private mutating func releaseAccepted() throws {
        guard !holds.holds.isEmpty, let accepted = try acceptedVersions() else { return }
        let releasable = holds.update(accepted: accepted)
        guard !releasable.isEmpty else { return }
        try syncAndDeliver()  // everything appended is in the journal's files, and decided
        var starts: [String: EventPosition] = [:]
        for table in releasable {
            starts[table] = holds.release(table)
        }
        guard let from = starts.values.min() else { return }
        var released: [String: Int] = [:]
        try journal.read(from: from) { record in
            guard let metadata = record.resolvedMetadata, let since = starts[metadata.table], record.position >= since else { return }
            let table = metadata.table
            if route(table: table, version: metadata.schemaVersion, at: record.position) {
                sink.append(record.envelope)
                released[table, default: 0] += 1
            }
        }
        try sink.sync()
        holdsChanged = true
        try saveCheckpoint()
        for table in starts.keys.sorted() {
            logger.notice("released the table's held events", metadata: [
                "table": "\(table)", "journal.events": "\(released[table] ?? 0)",
                "schema.accepted": "\(accepted[table] ?? 0)", "still_held": "\(holds.holds[table] != nil)",
            ])
        }
    }
}
