import CoreMetrics
import Logging
import PGReflexDispatch
import PGReflexEnvelope
public import PGReflexSnapshot
import PGReflexTransport
import PGReflexWire

/// What `run` does about snapshots: the initial one when it creates the slot, and the
/// incremental ones `pgreflex snapshot start` records in the store.
public struct SnapshotOptions: Sendable {
    public var mode: SnapshotMode
    public var chunkSize: Int
    public var store: any SnapshotStore

    public init(mode: SnapshotMode = .never, chunkSize: Int = 1024, store: any SnapshotStore) {
        self.mode = mode
        self.chunkSize = chunkSize
        self.store = store
    }
}

/// Runs snapshots beside the stream, on its own SQL session: picks up the store's oldest
/// snapshot, reads a chunk between two watermarks whenever none is open (paced by
/// `max_rows_per_second`), and, once a chunk's rows are durable, moves its progress on.
/// The stream's side (dropping stale reads, emitting at the high watermark) is the capture
/// session's. Owned by the capture loop: one chunk at a time, no task of its own.
struct SnapshotDriver {
    let options: SnapshotOptions
    let session: PostgresConnection
    let logger: Logger
    private var job: SnapshotJob?
    private var table: (index: Int, info: SnapshotTable, descriptor: RelationDescriptor, keyColumns: [Int], qualified: String)?
    private var pace: GCRA<ContinuousClock.Instant>?
    private var nextPoll: ContinuousClock.Instant
    private var nextProgressLog: ContinuousClock.Instant
    private var generator = SystemRandomNumberGenerator()
    private var polled = false

    /// The store has been looked at and holds nothing to do.
    var isIdle: Bool { polled && job == nil }
    let clock = ContinuousClock()

    init(options: SnapshotOptions, session: PostgresConnection, logger: Logger) {
        self.options = options
        self.session = session
        self.logger = logger
        nextPoll = clock.now
        nextProgressLog = clock.now
    }

    /// One turn: records a closed chunk, follows the store's commands, reads the next chunk.
    mutating func step<Output: ChangeOutput>(_ capture: inout CaptureSession<Output>) async throws {
        if let closed = capture.closedChunk {
            capture.closedChunk = nil
            try await record(closed, capture: &capture)
        }
        if clock.now >= nextPoll {
            nextPoll = clock.now.advanced(by: .milliseconds(500))
            try await poll(&capture)
        }
        guard capture.openChunk == nil, let job, job.state == .running else { return }
        if pace != nil, pace!.take("", now: clock.now) != nil { return }
        do {
            try await readChunk(job, capture: &capture)
        } catch let error as PostgresError where !error.isRetryable {
            // The snapshot's own problem (a dropped table, a condition that no longer holds):
            // it stops, streaming goes on. Only the code is kept: a message may quote a value.
            let reason = "\(error.code)" + (error.sqlState.map { " (SQLSTATE \($0))" } ?? "")
            try await options.store.transitionSnapshot(id: job.id, from: [.running, .paused], to: .failed, error: reason)
            notify(.aborted, job, ["snapshot.reason": "\(reason)"])
            logger.error("the snapshot failed and was stopped; streaming goes on. Fix the cause, then start a new snapshot",
                         metadata: ["snapshot.id": "\(job.id)", "snapshot.table": "\(job.currentTable ?? "-")", "error.code": "\(error.code)"])
            self.job = nil
            table = nil
        }
    }

    /// Picks up a new snapshot, or a state a command changed.
    private mutating func poll<Output: ChangeOutput>(_ capture: inout CaptureSession<Output>) async throws {
        let stored = try await options.store.activeSnapshot()
        polled = true
        if let current = job, stored?.id != current.id {
            // Cancelled (or removed) by a command: its open chunk is not emitted.
            if let latest = try await options.store.snapshots().first(where: { $0.id == current.id }), latest.state == .cancelled {
                notify(.aborted, current, ["snapshot.reason": "cancelled"])
            }
            capture.openChunk = nil
            job = nil
            table = nil
        }
        guard var next = stored else { return }
        let previous = job?.state
        if next.state == .pending {
            if try await options.store.transitionSnapshot(id: next.id, from: [.pending], to: .running, error: nil) {
                next.state = .running
                notify(.started, next, ["snapshot.tables": "\(next.tables.joined(separator: ","))",
                                        "snapshot.chunk_size": "\(next.chunkSize)", "snapshot.route": "\(next.route ?? "-")"])
            }
        } else if previous == nil && next.state == .running {
            let resumedFrom = next.currentTable ?? "-"
            logger.info(next.kind == .initial
                            ? "resuming the interrupted initial snapshot as an incremental snapshot from its last chunk"
                            : "resuming the snapshot from its last chunk",
                        metadata: ["snapshot.id": "\(next.id)", "snapshot.table": "\(resumedFrom)", "snapshot.rows": "\(next.progress.rows)"])
        }
        if previous == .running && next.state == .paused { notify(.paused, next, [:]) }
        if previous == .paused && next.state == .running { notify(.resumed, next, [:]) }
        if job?.id != next.id {
            pace = next.maxRowsPerSecond.map { rate in
                // One chunk per chunk_size / rate seconds.
                GCRA(limit: 1, period: .seconds(Double(next.chunkSize) / Double(max(rate, 1))))
            }
        }
        if let job, job.id == next.id { next.progress = job.progress }  // ours is at least as far along
        // One count per table, whatever the stored progress held.
        next.progress.tableRows += Array(repeating: 0, count: max(0, next.tables.count - next.progress.tableRows.count))
        job = next
    }

    /// Looks up the table the job is on (once per table): its Relation, key and descriptor.
    private mutating func prepareTable<Output: ChangeOutput>(_ job: SnapshotJob, capture: inout CaptureSession<Output>) async throws
        -> (index: Int, info: SnapshotTable, descriptor: RelationDescriptor, keyColumns: [Int], qualified: String)? {
        guard let name = job.currentTable else { return nil }
        if let table, table.index == job.progress.tableIndex {
            if table.keyColumns.isEmpty, let fresh = try await session.snapshotTable(table.info.relation.tableName) {
                self.table?.info.pages = fresh.pages  // a table without a key is read up to its current size
            }
            return self.table
        }
        guard let parsed = TableName(parsing: name), let info = try await session.snapshotTable(parsed) else {
            throw PostgresError(code: .tableNotFound, message: "snapshot \(job.id): table \(name) does not exist any more; cancel the snapshot (pgreflex snapshot cancel)")
        }
        let descriptor = try await capture.snapshotDescriptor(for: info.relation)
        let keyColumns = info.primaryKey.compactMap { key in info.relation.columns.firstIndex { $0.name == key } }
        table = (job.progress.tableIndex, info, descriptor, keyColumns, ChunkQuery.qualified(schema: parsed.schema, name: parsed.name))
        return table
    }

    /// Low watermark, the read (its own REPEATABLE READ transaction, with its snapshot's
    /// in-progress transactions), high watermark; then the window opens in the capture session.
    private mutating func readChunk<Output: ChangeOutput>(_ job: SnapshotJob, capture: inout CaptureSession<Output>) async throws {
        guard let table = try await prepareTable(job, capture: &capture) else {
            try await complete(job)
            return
        }
        let chunk = job.progress.chunks + 1
        let nonce = UInt64.random(in: 1...UInt64.max, using: &generator)
        _ = try await session.emitMessage(prefix: Watermark.prefix,
                                          content: Watermark(snapshotID: job.id, chunk: chunk, nonce: nonce, edge: .low).content)
        let columns = table.info.relation.columns.map(\.name)
        var sql: String
        var parameters: [String?] = []
        var pages = 0
        if table.keyColumns.isEmpty {
            pages = max(1, job.chunkSize / max(table.info.rowsPerPage, 1))
            sql = ChunkQuery.pages(table: table.qualified, columns: columns, condition: job.condition, from: job.progress.nextPage, count: pages)
        } else {
            sql = ChunkQuery.keyset(table: table.qualified, columns: columns, key: table.info.primaryKey, condition: job.condition,
                                    after: job.progress.lastKey != nil, limit: job.chunkSize)
            parameters = job.progress.lastKey ?? []
        }
        let rows: [TupleData]
        let visibility: TransactionSnapshot
        do {
            try await session.beginSnapshotRead()
            visibility = try await session.currentSnapshot()
            rows = try await session.readTuples(sql, parameters: parameters)
            try await session.commit()
        } catch {
            await session.rollbackQuietly()
            throw error
        }
        let readTime = PostgresTimestamp.now()
        _ = try await session.emitMessage(prefix: Watermark.prefix,
                                          content: Watermark(snapshotID: job.id, chunk: chunk, nonce: nonce, edge: .high).content)
        if capture.recentCommits.containsAny(visibility.inProgress) {
            // A transaction the read could not see had already been streamed (its commit was
            // flushed but not yet visible): its keys may be stale in these rows. Read again.
            self.job?.progress.rereads += 1
            logger.debug("re-reading a chunk: a transaction it could not see had already streamed", metadata: ["snapshot.chunk": "\(chunk)"])
            return
        }
        let tableDone: Bool
        let nextPage: Int?
        if table.keyColumns.isEmpty {
            nextPage = job.progress.nextPage + pages
            tableDone = nextPage! >= table.info.pages
        } else {
            nextPage = nil
            tableDone = rows.count < job.chunkSize
        }
        let lastKey = rows.last.map { SnapshotKey.values($0, columns: table.keyColumns) } ?? job.progress.lastKey
        capture.openChunk = OpenChunk(
            window: ChunkWindow(snapshotID: job.id, chunk: chunk, nonce: nonce, relationOID: table.info.relation.oid,
                                keyColumns: table.keyColumns, rows: rows),
            descriptor: table.descriptor, route: job.route, readTime: readTime, read: rows.count, lastKey: lastKey, nextPage: nextPage,
            tableDone: tableDone)
    }

    /// A chunk's rows are written: once durable, progress moves past them.
    private mutating func record<Output: ChangeOutput>(_ closed: ClosedChunk, capture: inout CaptureSession<Output>) async throws {
        guard var job, closed.chunk.window.snapshotID == job.id else { return }
        _ = try capture.flush(final: true)
        job.progress.chunks += 1
        job.progress.rows += closed.emitted
        job.progress.staleDropped += closed.dropped
        job.progress.tableRows[job.progress.tableIndex] += closed.emitted
        job.progress.lastKey = closed.chunk.lastKey
        if let page = closed.chunk.nextPage { job.progress.nextPage = page }
        Counter(label: "pgreflex_snapshot_rows_total", dimensions: [("table", closed.chunk.descriptor.qualifiedName)]).increment(by: closed.emitted)
        if closed.chunk.tableDone {
            notify(.tableScanCompleted, job, ["snapshot.table": "\(closed.chunk.descriptor.qualifiedName)",
                                              "snapshot.table_rows": "\(job.progress.tableRows[job.progress.tableIndex])"])
            job.progress.finishTable()
            table = nil
        }
        try await options.store.saveSnapshotProgress(id: job.id, job.progress)
        self.job = job
        Counter(label: "pgreflex_snapshot_notifications_total", dimensions: [("type", SnapshotNotification.inProgress.rawValue)]).increment()
        if clock.now >= nextProgressLog {
            nextProgressLog = clock.now.advanced(by: .seconds(5))
            logger.info("snapshot \(SnapshotNotification.inProgress.rawValue)", metadata: [
                "snapshot.id": "\(job.id)", "snapshot.table": "\(job.currentTable ?? "-")", "snapshot.chunks": "\(job.progress.chunks)",
                "snapshot.rows": "\(job.progress.rows)", "snapshot.stale_reads_dropped": "\(job.progress.staleDropped)",
            ])
        }
        if job.currentTable == nil { try await complete(job) }
    }

    private mutating func complete(_ job: SnapshotJob) async throws {
        try await options.store.saveSnapshotProgress(id: job.id, job.progress)
        if try await options.store.transitionSnapshot(id: job.id, from: [.running, .paused], to: .completed, error: nil) {
            notify(.completed, job, ["snapshot.rows": "\(job.progress.rows)", "snapshot.chunks": "\(job.progress.chunks)"])
        }
        self.job = nil
        table = nil
        nextPoll = clock.now
    }

    /// The initial snapshot: each table read chunk by chunk in the snapshot the slot exported
    /// (already imported on `session`), before the stream is read, so that it joins the stream
    /// exactly: what committed before the slot's consistent point is read, what committed after
    /// is streamed. Rows sit at the consistent point, in order, before every streamed change.
    /// Progress is saved as chunks become durable; an interruption resumes as an incremental
    /// snapshot (see `poll`). Returns false when a stop interrupted it.
    mutating func runInitial<Output: ChangeOutput>(
        tables: [TableName], at consistentPoint: LSN, capture: inout CaptureSession<Output>, stopRequested: () -> Bool
    ) async throws -> Bool {
        var job = try await options.store.createSnapshot(SnapshotJob(kind: .initial, state: .running, tables: tables.map(\.description),
                                                                     chunkSize: options.chunkSize, createdAt: 0))
        notify(.started, job, ["snapshot.tables": "\(job.tables.joined(separator: ","))", "snapshot.consistent_point": "\(consistentPoint)"])
        var infos: [SnapshotTable?] = []
        var lastNonEmpty = -1
        for (index, name) in tables.enumerated() {
            let info = try await session.snapshotTable(name)
            if info == nil {
                logger.warning("the initial snapshot skips a table that does not exist", metadata: ["table": "\(name)"])
            } else if try await session.hasRows(ChunkQuery.qualified(schema: name.schema, name: name.name)) {
                lastNonEmpty = index
            }
            infos.append(info)
        }
        var ordinal = 0
        let readTime = PostgresTimestamp.now()
        for (index, name) in tables.enumerated() {
            defer { job.progress.finishTable() }
            guard let info = infos[index], index <= lastNonEmpty else { continue }
            let descriptor = try await capture.snapshotDescriptor(for: info.relation)
            let keyColumns = info.primaryKey.compactMap { key in info.relation.columns.firstIndex { $0.name == key } }
            let qualified = ChunkQuery.qualified(schema: name.schema, name: name.name)
            let columns = info.relation.columns.map(\.name)
            var done = false
            while !done {
                if stopRequested() { return false }
                let rows: [TupleData]
                if keyColumns.isEmpty {
                    let pages = max(1, job.chunkSize / max(info.rowsPerPage, 1))
                    rows = try await session.readTuples(
                        ChunkQuery.pages(table: qualified, columns: columns, condition: nil, from: job.progress.nextPage, count: pages), parameters: [])
                    job.progress.nextPage += pages
                    done = job.progress.nextPage >= info.pages
                } else {
                    rows = try await session.readTuples(
                        ChunkQuery.keyset(table: qualified, columns: columns, key: info.primaryKey, condition: nil,
                                          after: job.progress.lastKey != nil, limit: job.chunkSize),
                        parameters: job.progress.lastKey ?? [])
                    job.progress.lastKey = rows.last.map { SnapshotKey.values($0, columns: keyColumns) } ?? job.progress.lastKey
                    done = rows.count < job.chunkSize
                    if !done && index == lastNonEmpty {
                        // Is this the final row? Only the last table needs to know (for "last").
                        done = try await session.readTuples(
                            ChunkQuery.keyset(table: qualified, columns: [columns[keyColumns[0]]], key: info.primaryKey, condition: nil,
                                              after: true, limit: 1), parameters: job.progress.lastKey ?? []).isEmpty
                    }
                }
                let finalChunk = done && index == lastNonEmpty
                let lastIndex = rows.count - 1
                var position = 0
                try capture.writeSnapshotRows(rows, descriptor: descriptor, lsn: consistentPoint, ordinal: &ordinal, readTime: readTime, marker: { _ in
                    defer { position += 1 }
                    return finalChunk && position == lastIndex ? .last : .initial
                }, route: nil)
                _ = try capture.flush(final: true)
                job.progress.chunks += 1
                job.progress.rows += rows.count
                job.progress.tableRows[index] += rows.count
                Counter(label: "pgreflex_snapshot_rows_total", dimensions: [("table", descriptor.qualifiedName)]).increment(by: rows.count)
                if done {
                    notify(.tableScanCompleted, job, ["snapshot.table": "\(descriptor.qualifiedName)", "snapshot.table_rows": "\(job.progress.tableRows[index])"])
                    var finished = job.progress
                    finished.finishTable()
                    try await options.store.saveSnapshotProgress(id: job.id, finished)
                } else {
                    try await options.store.saveSnapshotProgress(id: job.id, job.progress)
                }
                if clock.now >= nextProgressLog {
                    nextProgressLog = clock.now.advanced(by: .seconds(5))
                    logger.info("snapshot \(SnapshotNotification.inProgress.rawValue)", metadata: [
                        "snapshot.id": "\(job.id)", "snapshot.table": "\(name)", "snapshot.rows": "\(job.progress.rows)"])
                }
            }
        }
        try await session.commit()
        try await complete(job)
        return true
    }

    /// Logs a notification with Debezium's name and counts it.
    func notify(_ notification: SnapshotNotification, _ job: SnapshotJob, _ extra: Logger.Metadata) {
        Counter(label: "pgreflex_snapshot_notifications_total", dimensions: [("type", notification.rawValue)]).increment()
        var metadata: Logger.Metadata = ["snapshot.id": "\(job.id)", "snapshot.kind": "\(job.kind.rawValue)", "snapshot.notification": "\(notification.rawValue)"]
        metadata.merge(extra) { $1 }
        logger.info("snapshot \(notification.rawValue)", metadata: metadata)
    }
}

extension PgOutputMessage.Relation {
    var tableName: TableName { TableName(schema: namespace, name: name) }
}
