public import Logging
import PGReflexFiles
public import PGReflexJournal
public import PGReflexSchema
import PGReflexThreads
public import PGReflexWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One named consumer of the journal: it follows the journal at its own pace, delivers each
/// envelope to its file sink, and keeps its own durable cursor (`journal/consumers/<name>.json`):
/// how far it has handled the journal, and the tables it holds for a schema review.
///
/// An actor on a thread of its own: a sink write blocks for as long as the sink is slow, and
/// must neither hold back capture nor another consumer. It sleeps on the ``JournalChannel``
/// while it is caught up, and wakes when capture makes more of the journal durable.
///
/// Events of a table whose schema version awaits acceptance are not delivered (`SchemaHolds`):
/// the cursor records where each hold began, retention keeps them, and the registry is read
/// until the version is accepted.
public actor JournalConsumer {
    public let settings: ConsumerSettings
    let directory: String
    let cursorPath: String
    let registryDirectory: String
    let channel: JournalChannel
    let logger: Logger
    private let thread: DedicatedThread
    private let sink: FileSink
    private let clock = ContinuousClock()
    private var holds: SchemaHolds<ContinuousClock.Instant>
    private var watermark: AcknowledgementWatermark
    private let reader: JournalReader
    /// Events at or before this were handled before this start: seen again only to count holds.
    private let resumedAfter: EventPosition?
    private var dropped: Int
    private var holdsChanged = false
    private var nextRegistryPoll: ContinuousClock.Instant
    private let stop = StopFlag()
    /// Events written to the sink by this process.
    public private(set) var delivered = 0

    /// How many records one read takes at most: the sink is synced and the cursor saved after each.
    static let batchRecords = 4096
    /// How often the registry is read while a table is held.
    static let registryPollInterval = Duration.seconds(1)
    /// The cursor before any event: a hold can begin before anything is delivered.
    static let origin = EventPosition(commitLSN: .invalid, ordinal: 0)

    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    /// Where consumers keep their cursors: `journal/consumers/<name>.json`.
    static func cursorDirectory(journal: String) -> String { journal + "/consumers" }

    public static func cursorPath(journal: String, consumer: String) -> String {
        cursorDirectory(journal: journal) + "/" + consumer + ".json"
    }

    /// Before named consumers, the one sink's cursor was `journal/checkpoint.json`.
    static func legacyCursorPath(journal: String) -> String { journal + "/checkpoint.json" }

    /// Opens the sink and the cursor. A consumer without a cursor starts as `settings.start`
    /// says (else `defaultStart`), and that decision is saved at once, so a restart does not
    /// decide again. Registers the consumer's floor with the channel before capture appends.
    public init(settings: ConsumerSettings, journalDirectory: String, channel: JournalChannel,
                schemaVersionPolicy: SchemaVersionPolicy, registryDirectory: String, defaultStart: StartPosition,
                logger: Logger) throws {
        var logger = logger
        logger[metadataKey: "consumer"] = "\(settings.name)"
        self.settings = settings
        self.directory = journalDirectory
        self.channel = channel
        self.registryDirectory = registryDirectory
        self.logger = logger
        cursorPath = Self.cursorPath(journal: journalDirectory, consumer: settings.name)
        let sink = try FileSink(path: settings.path, setting: settings.pathSetting)
        self.sink = sink
        if sink.cutPartialLine > 0 {
            logger.warning("cut a partial last line from the sink file (a stop mid-write): its event is delivered again, whole",
                           metadata: ["sink.path": "\(settings.path)", "sink.bytes_cut": "\(sink.cutPartialLine)"])
        }
        if (mkdir(journalDirectory, 0o700) != 0 && errno != EEXIST) || (mkdir(journalDirectory + "/consumers", 0o700) != 0 && errno != EEXIST) {
            throw JournalError(code: .io, segment: journalDirectory + "/consumers",
                               message: "cannot create the consumers' cursor directory (\(String(cString: strerror(errno))))")
        }
        let cursor = try Self.loadOrStart(settings: settings, cursorPath: cursorPath, journalDirectory: journalDirectory,
                                          defaultStart: defaultStart, logger: logger)
        let accepted = (try? SchemaRegistry.acceptedVersions(directory: registryDirectory)) ?? [:]
        let now = ContinuousClock.now
        holds = SchemaHolds(policy: schemaVersionPolicy, accepted: accepted, restoring: cursor?.held ?? [:], now: now)
        nextRegistryPoll = now
        dropped = cursor?.dropped ?? 0
        resumedAfter = cursor?.position
        watermark = AcknowledgementWatermark(resumingAfter: cursor?.position, transactionEnd: cursor?.transactionEnd)
        // Held events come before the cursor: read from the first of them, to count them again.
        if let since = holds.floor, since <= cursor?.position ?? since {
            reader = JournalReader(directory: journalDirectory, from: since)
        } else {
            reader = JournalReader(directory: journalDirectory, after: cursor?.position)
        }
        thread = DedicatedThread()
        channel.update(settings.name, Self.progress(confirmed: watermark.confirmed, holds: holds, settings: settings))
    }

    deinit {
        thread.shutdown()
    }

    /// The saved cursor, or the one a first start makes (saved); nil: from the journal's first event.
    private static func loadOrStart(settings: ConsumerSettings, cursorPath: String, journalDirectory: String,
                                    defaultStart: StartPosition, logger: Logger) throws -> Checkpoint? {
        let legacy = legacyCursorPath(journal: journalDirectory)
        if settings.name == "sink", access(cursorPath, F_OK) != 0, access(legacy, F_OK) == 0 {
            guard rename(legacy, cursorPath) == 0 else {
                throw JournalError(code: .io, segment: legacy, message: "cannot move the checkpoint to \(cursorPath) (\(String(cString: strerror(errno))))")
            }
            logger.notice("moved the sink's checkpoint to its consumer cursor", metadata: ["consumer.cursor": "\(cursorPath)"])
        }
        if let cursor = try Checkpoint.load(cursorPath) { return cursor }
        let start = settings.start ?? defaultStart
        let cursor = try start.initialPosition(journalDirectory: journalDirectory, consumer: settings.name, logger: logger)
            .map { Checkpoint(position: $0, transactionEnd: nil) }
        if let cursor { try cursor.save(cursorPath) }
        return cursor
    }

    /// Asks a running consumer to stop once the batch in hand is delivered and its cursor saved.
    public nonisolated func requestStop() {
        stop.request()
        channel.appended.notify()
    }

    private nonisolated var stopRequested: Bool { stop.isRequested }

    /// Delivers until capture has finished and everything durable is delivered, or a stop
    /// (then after the batch in hand, with the cursor saved).
    public func run() async throws {
        defer { logger.info("consumer stopped", metadata: ["consumer.delivered": "\(delivered)", "consumer.position": "\(watermark.confirmed?.description ?? "-")"]) }
        try releaseAccepted()
        while !Task.isCancelled {
            let seen = channel.appended.generation
            // Read before the mark: once finished, the mark is final.
            let finished = channel.isFinished
            let read = try deliverBatch(upTo: channel.mark)
            if !holds.holds.isEmpty { try watchHolds() }
            // After capture has finished by itself (end LSN, idleness) a stop still delivers
            // what is durable: that is what such a run promises.
            // Read afresh: capture finishes the channel before a stop can reach a consumer.
            if stopRequested && !channel.isFinished { break }
            if read == 0 {
                if finished { break }
                if holds.holds.isEmpty {
                    await channel.appended.wait(since: seen)
                } else {
                    await channel.appended.wait(since: seen, timeout: Self.registryPollInterval)
                }
            }
        }
    }

    /// Reads, delivers and syncs one batch, then saves the cursor; returns the records read.
    private func deliverBatch(upTo mark: JournalChannel.DurableMark) throws -> Int {
        var handled: [EventPosition] = []
        let now = clock.now
        let read = try reader.read(upTo: mark, maxRecords: Self.batchRecords, skipped: { skippedSegments($0) }) { record in
            if let resumedAfter, record.position <= resumedAfter {
                // Handled before this start: only a hold from before it counts it again.
                if let metadata = record.resolvedMetadata, let since = holds.holds[metadata.table]?.since, record.position >= since {
                    _ = holds.route(table: metadata.table, version: metadata.schemaVersion, at: record.position, now: now)
                }
                return
            }
            if routes(record) {
                sink.append(record.envelope)
                delivered += 1
            }
            try watermark.delivered(record.position, endsTransactionAt: record.transactionEnd)
            handled.append(record.position)
        }
        guard !handled.isEmpty || holdsChanged else { return read }
        try sink.sync()
        for position in handled { _ = try watermark.completed(position) }
        try saveCursor()
        return read
    }

    /// The size bound removed segments before this consumer read them (`drop_oldest`).
    private func skippedSegments(_ segments: [DroppedSegment]) {
        let records = segments.reduce(0) { $0 + $1.records }
        dropped += records
        holdsChanged = true  // the cursor's count changed: save it
        logger.warning("the journal was full: records this consumer had not read were removed (on_journal_full: drop_oldest)", metadata: [
            "consumer.dropped_records": "\(records)", "consumer.dropped_total": "\(dropped)",
            "journal.dropped_from": "\(segments.first?.first?.description ?? "-")", "journal.dropped_to": "\(segments.last?.last?.description ?? "-")",
        ])
    }

    /// Whether a record is delivered now: always, unless it is a backfill aimed at one route,
    /// or holds apply to its table.
    private func routes(_ record: JournalRecord) -> Bool {
        if record.resolvedMetadata?.route != nil { return false }
        guard holds.isEnabled, let metadata = record.resolvedMetadata, !metadata.table.isEmpty else { return true }
        return route(table: metadata.table, version: metadata.schemaVersion, at: record.position)
    }

    /// Whether an event of this table is delivered now; alerts when a hold begins.
    private func route(table: String, version: Int?, at position: EventPosition) -> Bool {
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

    /// What retention must keep for this consumer: everything after its cursor, and every held event.
    private static func progress(confirmed: EventPosition?, holds: SchemaHolds<ContinuousClock.Instant>,
                                 settings: ConsumerSettings) -> JournalChannel.ConsumerProgress {
        let floor = holds.floor.map { since in confirmed.map { min($0, since) } ?? since } ?? confirmed
        return JournalChannel.ConsumerProgress(floor: floor, pausesCapture: settings.onJournalFull == .pause)
    }

    private func saveCursor() throws {
        try Checkpoint(position: watermark.confirmed ?? Self.origin, transactionEnd: watermark.confirmedTransactionEnd,
                       held: holds.checkpointed, dropped: dropped).save(cursorPath)
        holdsChanged = false
        channel.update(settings.name, Self.progress(confirmed: watermark.confirmed, holds: holds, settings: settings))
    }

    /// While a table is held: reminds the operator, and reads the registry for an acceptance.
    private func watchHolds() throws {
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
    private func acceptedVersions() -> [String: Int]? {
        do {
            return try SchemaRegistry.acceptedVersions(directory: registryDirectory)
        } catch {
            logger.warning("cannot read the schema registry; held tables stay held", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Delivers the held events of tables whose version is now accepted (or that are no longer
    /// configured to hold), in commit order, from the journal, up to where this consumer has read.
    private func releaseAccepted() throws {
        guard !holds.holds.isEmpty, let accepted = acceptedVersions() else { return }
        let releasable = holds.update(accepted: accepted)
        guard !releasable.isEmpty else { return }
        var starts: [String: EventPosition] = [:]
        for table in releasable {
            starts[table] = holds.release(table)
        }
        var released: [String: Int] = [:]
        if let from = starts.values.min(), let through = reader.position {
            let replay = JournalReader(directory: directory, from: from)
            while try replay.read(upTo: channel.mark, through: through, { record in
                guard let metadata = record.resolvedMetadata, metadata.route == nil, let since = starts[metadata.table],
                      record.position >= since else { return }
                let table = metadata.table
                if route(table: table, version: metadata.schemaVersion, at: record.position) {
                    sink.append(record.envelope)
                    delivered += 1
                    released[table, default: 0] += 1
                }
            }) > 0 {}
        }
        try sink.sync()
        try saveCursor()
        for table in starts.keys.sorted() {
            logger.notice("released the table's held events", metadata: [
                "table": "\(table)", "journal.events": "\(released[table] ?? 0)",
                "schema.accepted": "\(accepted[table] ?? 0)", "still_held": "\(holds.holds[table] != nil)",
            ])
        }
    }
}
