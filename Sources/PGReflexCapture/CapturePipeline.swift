import CoreMetrics
public import Logging
public import PGReflexEnvelope
public import PGReflexFiles
import PGReflexJournal
public import PGReflexPrivacy
public import PGReflexSchema
import PGReflexSnapshot
public import PGReflexStatus
public import PGReflexTransport
public import PGReflexWire
import Synchronization

/// `pgreflex tail`: stream a slot's changes and print one JSON line per change.
///
/// A transaction's end LSN is confirmed to the slot only after every line up to its commit
/// has been written, so a stop at any point loses nothing and repeats at most the transaction
/// that was being written.
public final class CapturePipeline: Sendable {
    public struct Options: Sendable {
        public var source: SourceOptions
        public var startLSN: LSN?
        /// Stop once everything committed before this LSN has been printed.
        public var endLSN: LSN?
        /// Stop after this long without changes.
        public var idleExit: Duration?
        /// nil: the highest version up to 2 that the server supports.
        public var protocolVersion: Int?
        public var streaming: ReplicationStreamOptions.Streaming
        /// `source.name` in envelopes (Debezium's topic prefix).
        public var serverName: String
        public var unavailableValuePlaceholder: String
        /// Emit BEGIN and END transaction events.
        public var transactionEvents: Bool
        public var decimalHandling: DecimalHandling
        /// Column policies applied as events are encoded (nothing protected leaves unprotected).
        public var privacy: PrivacyPolicy?
        /// The schema registry directory: shapes are numbered by it, and new ones recorded in it.
        /// nil: numbered in memory, from 1, for this run only.
        public var schemaRegistry: String?
        /// Whether new shapes are recorded as pending (`run` holds their events) or accepted.
        public var schemaVersionPolicy: SchemaVersionPolicy
        /// The command in log lines: `tail` or `run`.
        public var command: String
        /// Snapshots (`run` only): the initial one, and those `pgreflex snapshot start` asks for.
        public var snapshots: SnapshotOptions?

        public init(
            source: SourceOptions, startLSN: LSN? = nil, endLSN: LSN? = nil, idleExit: Duration? = nil,
            protocolVersion: Int? = nil, streaming: ReplicationStreamOptions.Streaming = .on, serverName: String = "pgreflex",
            unavailableValuePlaceholder: String = "__debezium_unavailable_value", transactionEvents: Bool = false,
            decimalHandling: DecimalHandling = .string, privacy: PrivacyPolicy? = nil, schemaRegistry: String? = nil,
            schemaVersionPolicy: SchemaVersionPolicy = .init(), command: String = "tail"
        ) {
            self.command = command
            self.source = source
            self.startLSN = startLSN
            self.endLSN = endLSN
            self.idleExit = idleExit
            self.protocolVersion = protocolVersion
            self.streaming = streaming
            self.serverName = serverName
            self.unavailableValuePlaceholder = unavailableValuePlaceholder
            self.transactionEvents = transactionEvents
            self.decimalHandling = decimalHandling
            self.privacy = privacy
            self.schemaRegistry = schemaRegistry
            self.schemaVersionPolicy = schemaVersionPolicy
        }
    }

    public enum StopReason: String, Sendable {
        case endLSN = "end_lsn"
        case idle
        case requested
        case outputClosed = "output_closed"
        /// `snapshot: initial_only`: the snapshot is done, and nothing is streamed.
        case snapshotCompleted = "snapshot_completed"
    }

    public struct Summary: Sendable {
        public var events: Int
        public var transactions: Int
        /// The last LSN confirmed to the slot.
        public var confirmedLSN: LSN
        public var stopReason: StopReason
    }

    /// The prefix of heartbeat messages. Consumers never print or journal them: they only let
    /// the slot advance.
    public static let heartbeatPrefix = "pgreflex.heartbeat"

    let options: Options
    let logger: Logger
    /// Where the status page, `/readyz` and the metrics learn what capture is doing.
    public let status: PipelineStatus
    private let stopState = Mutex<(requested: Bool, stream: ReplicationStream?)>((false, nil))

    public init(options: Options, status: PipelineStatus = PipelineStatus(), logger: Logger) {
        self.options = options
        self.status = status
        self.logger = logger
    }

    /// Asks a running `run` to stop after the batch in hand (graceful shutdown).
    public func requestStop() {
        let stream = stopState.withLock { state -> ReplicationStream? in
            state.requested = true
            return state.stream
        }
        stream?.stop()
    }

    private var stopRequested: Bool { stopState.withLock { $0.requested } }

    /// Whether a graceful stop was asked for (then a lost connection is not retried).
    public var isStopRequested: Bool { stopRequested }

    public func run(output: FileDescriptorWriter) async throws -> Summary {
        try await run(output: DescriptorOutput(writer: output))
    }

    /// Streams into any output; `run` and `tail` differ only in theirs.
    func run<Output: ChangeOutput>(output: Output, idleTick: Duration? = nil) async throws -> Summary {
        let connection = try await PostgresConnection.connect(options.source.dsn, mode: .replication, logger: logger)
        var setup = Setup()
        var streaming = false
        do {
            return try await stream(on: connection, setup: &setup, streaming: &streaming, output: output, idleTick: idleTick)
        } catch {
            if !streaming { await undo(setup, on: connection) }
            throw error
        }
    }

    private func stream<Output: ChangeOutput>(
        on connection: PostgresConnection, setup: inout Setup, streaming: inout Bool, output: Output, idleTick: Duration?
    ) async throws -> Summary {
        var streamOptions = try await prepare(connection, setup: &setup)
        // Before anything streams: a refusal here takes back a slot this start created.
        if options.startLSN == nil { try output.slotReady(at: setup.slotPosition) }
        if let idleTick { streamOptions.idleTick = min(streamOptions.idleTick ?? idleTick, idleTick) }
        // Catalog lookups (primary keys, types) need an ordinary session beside the replication one.
        let session = try await PostgresConnection.connect(options.source.dsn, mode: .sql, logger: logger)
        let catalog = RelationCatalog(connection: session)
        var driver: SnapshotDriver?
        var initialTables: [TableName] = []
        if let snapshots = options.snapshots {
            // Its own session: a chunk's REPEATABLE READ transaction must not hold the catalog's.
            let reader = try await PostgresConnection.connect(options.source.dsn, mode: .sql, logger: logger)
            try await reader.execute("SET DateStyle = ISO, MDY; SET IntervalStyle = postgres; SET extra_float_digits = 3; SET bytea_output = hex")
            if let exported = setup.exportedSnapshot {
                // Imported before START_REPLICATION, which ends the export.
                try await reader.beginSnapshotRead(importing: exported)
                initialTables = options.source.tables.isEmpty
                    ? try await reader.publicationTables(options.source.publication) : options.source.tables
            }
            driver = SnapshotDriver(options: snapshots, session: reader, logger: logger)
        }
        let envelopeOptions = EnvelopeWriter.Options(
            serverName: options.serverName, database: try await connection.database,
            unavailableValuePlaceholder: options.unavailableValuePlaceholder, transactionEvents: options.transactionEvents,
            decimalHandling: options.decimalHandling)
        let decoderVersion = streamOptions.protocolVersion
        let parallel = streamOptions.streaming == .parallel
        let options = self.options
        let logger = self.logger

        return try await connection.withReplicationStream(streamOptions) { stream in
            streaming = true
            self.status.updateCapture {
                $0.state = .streaming
                $0.reason = nil
                $0.slot = options.source.slot
            }
            self.stopState.withLock { $0.stream = stream }
            defer { self.stopState.withLock { $0.stream = nil } }
            if self.stopRequested { stream.stop() }

            var consumer = try CaptureSession<Output>(
                decoder: PgOutputDecoder(protocolVersion: decoderVersion, parallelStreaming: parallel),
                envelopes: EnvelopeWriter(options: envelopeOptions), catalog: catalog,
                endLSN: options.endLSN, privacy: options.privacy,
                allowedTables: options.source.tables.isEmpty ? nil : Set(options.source.tables.map(\.description)),
                schemas: try options.schemaRegistry.map { try SchemaRegistry(directory: $0) },
                schemaVersionPolicy: options.schemaVersionPolicy, confirmed: setup.slotPosition,
                output: output, stream: stream, metricsEnabled: self.status.metricsEnabled, logger: logger)
            defer { consumer.close() }
            let clock = ContinuousClock()
            let started = clock.now
            var lastActivity = clock.now
            var monitor = SlotMonitor(options: options.source.monitor, now: clock.now)
            var stopReason = StopReason.requested
            if setup.exportedSnapshot != nil, driver != nil {
                if try await !driver!.runInitial(tables: initialTables, at: setup.slotPosition, capture: &consumer,
                                                 stopRequested: { self.stopRequested }) {
                    stopReason = .requested
                } else if options.snapshots?.mode == .initialOnly {
                    stopReason = .snapshotCompleted
                    stream.stop()
                }
            }
            for try await batch in stream {
                if stopReason == .snapshotCompleted { break }
                for action in monitor.tick(at: clock.now) {
                    await self.perform(action, on: session, monitor: &monitor)
                }
                if batch.frames.isEmpty {
                    // Quiet: let the output sync what it holds (group commit deadlines).
                    if try !consumer.flush(inputDry: true) {
                        stopReason = .outputClosed
                        break
                    }
                    try await driver?.step(&consumer)
                    consumer.publish(to: self.status, now: PostgresTimestamp.now().unixMicroseconds)
                    if Self.idle(options.idleExit, midTransaction: consumer.isMidTransaction, since: lastActivity, now: clock.now) {
                        stopReason = .idle
                        break
                    }
                    continue
                }
                let before = consumer.events
                if let reason = try await consumer.consume(batch) {
                    stopReason = reason
                    break
                }
                if consumer.events != before {
                    lastActivity = clock.now
                    monitor.changeSeen(at: clock.now)
                } else if Self.idle(options.idleExit, midTransaction: consumer.isMidTransaction, since: lastActivity, now: clock.now) {
                    stopReason = .idle
                    break
                }
                try await driver?.step(&consumer)
                if options.snapshots?.mode == .initialOnly, driver?.isIdle == true {
                    stopReason = .snapshotCompleted
                    break
                }
                consumer.publish(to: self.status, now: PostgresTimestamp.now().unixMicroseconds)
                if self.stopRequested { break }
            }
            if try !consumer.flush(final: true) { stopReason = .outputClosed }
            consumer.publish(to: self.status, now: PostgresTimestamp.now().unixMicroseconds)
            self.status.updateCapture {
                $0.state = .stopped
                $0.reason = stopReason.rawValue
            }
            let elapsed = started.duration(to: clock.now).components
            let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
            let command = options.command
            logger.info("\(command) stopped", metadata: [
                "\(command).events": "\(consumer.events)", "\(command).transactions": "\(consumer.transactions)",
                "\(command).duration_s": "\(Double(Int(seconds * 1000)) / 1000)",
                "\(command).events_per_s": "\(seconds > 0 ? Int(Double(consumer.events) / seconds) : 0)",
                "replication.confirmed_lsn": "\(consumer.confirmed)", "\(command).stop_reason": "\(stopReason.rawValue)",
                "\(command).heartbeats": "\(consumer.heartbeats)",
            ])
            return Summary(events: consumer.events, transactions: consumer.transactions,
                           confirmedLSN: consumer.confirmed, stopReason: stopReason)
        }
    }

    /// Runs a monitor action on the ordinary session. Failures are logged, never fatal: the
    /// stream itself is what matters.
    private func perform(_ action: SlotMonitor<ContinuousClock.Instant>.Action, on session: PostgresConnection,
                         monitor: inout SlotMonitor<ContinuousClock.Instant>) async {
        switch action {
        case .emitHeartbeat:
            do {
                try await session.emitHeartbeat(prefix: Self.heartbeatPrefix)
            } catch {
                if error.sqlState == "42501" { monitor.disableHeartbeat() }
                logger.warning(
                    "the idle heartbeat failed; while the captured tables are idle the slot may retain WAL. The role needs EXECUTE on pg_logical_emit_message(boolean, text, text)",
                    metadata: ["error.code": "\(error.code)", "error.sqlstate": "\(error.sqlState ?? "")"])
            }
        case .checkHealth:
            let health: SlotHealth?
            do {
                health = try await session.slotHealth(named: options.source.slot)
            } catch {
                logger.warning("could not read the slot's health", metadata: ["error.code": "\(error.code)"])
                return
            }
            guard let health else { return }
            status.updateCapture {
                $0.slotRetainedBytes = health.retainedBytes
                $0.slotWALStatus = health.walStatus
            }
            if let retained = health.retainedBytes {
                Gauge(label: "pgreflex_slot_retained_wal_bytes", dimensions: [("slot", options.source.slot)]).record(Double(retained))
            }
            for finding in monitor.observed(health) {
                switch finding {
                case .retainedWALAbove(let bytes, let threshold):
                    logger.warning(
                        "the slot retains more WAL than the warning threshold: the server keeps WAL until pgreflex confirms it. Check that pgreflex keeps up, and the heartbeat if the captured tables are idle",
                        metadata: ["slot": "\(options.source.slot)", "slot.retained_wal_bytes": "\(bytes)",
                                   "slot.warning_bytes": "\(threshold)", "slot.safe_wal_bytes": "\(health.safeBytes.map(String.init) ?? "unlimited")"])
                case .retainedWALBackUnder(let bytes, let threshold):
                    logger.info("the slot's retained WAL is back under the warning threshold",
                                metadata: ["slot.retained_wal_bytes": "\(bytes)", "slot.warning_bytes": "\(threshold)"])
                case .invalidated:
                    logger.error(
                        "the slot has been invalidated (wal_status = lost): the server removed WAL it still needed, and changes after its position are gone. Drop and recreate the slot, then resnapshot the tables",
                        metadata: ["slot": "\(options.source.slot)"])
                }
            }
        }
    }

    /// What this start changed on the server, so that a start that fails before streaming can
    /// take it back (a slot it created would otherwise hold WAL on the primary for good).
    struct Setup {
        var createdSlot = false
        var publication = PublicationChange.none
        /// The position the slot holds: where streaming resumes unless --start-lsn says otherwise.
        var slotPosition = LSN.invalid
        /// The snapshot the slot exported when this start created it, for the initial snapshot.
        var exportedSnapshot: String?
    }

    /// The preflight checks, then slot and publication set-up; returns what to start with.
    /// Everything that can be checked is checked before anything is created.
    private func prepare(_ connection: PostgresConnection, setup: inout Setup) async throws -> ReplicationStreamOptions {
        let source = options.source
        let plan = try await connection.planSource(
            slot: source.slot, publication: source.publication, tables: source.tables, createSlot: source.createSlot,
            createPublication: source.createPublication, allTables: source.allTables, hints: source.hints)
        let maximum = ReplicationStreamOptions.maximumProtocolVersion(serverVersion: try await connection.serverVersion)
        if let requested = options.protocolVersion, requested > maximum {
            throw PostgresError(
                code: .unsupportedServer,
                message: "pgoutput protocol version \(requested) needs a newer server: this one supports up to \(maximum). "
                    + "Ask for \(maximum) or lower")
        }
        if let slot = plan.slot {
            try checkRange(slotPosition: slot.confirmedFlushLSN ?? .invalid)
        }
        try await connection.apply(plan.publication, to: source.publication)
        setup.publication = plan.publication
        if let slot = plan.slot {
            setup.slotPosition = slot.confirmedFlushLSN ?? .invalid
        } else {
            let initial = options.snapshots.map { $0.mode != .never } ?? false
            let created = try await connection.createSlot(source.slot, snapshot: initial ? .export : .nothing)
            setup.slotPosition = created.consistentPoint
            setup.exportedSnapshot = initial ? created.snapshotName : nil
            setup.createdSlot = true
            try checkRange(slotPosition: setup.slotPosition)
        }
        logger.info("slot ready", metadata: [
            "replication.slot": "\(source.slot)", "replication.confirmed_lsn": "\(setup.slotPosition)",
            "replication.start_lsn": "\(options.startLSN.map(\.description) ?? "the slot's confirmed position")",
        ])
        let version = options.protocolVersion ?? min(2, maximum)
        let streaming: ReplicationStreamOptions.Streaming = version >= 2 ? options.streaming : .off
        return ReplicationStreamOptions(
            slot: source.slot, publications: [source.publication], startLSN: options.startLSN ?? .invalid,
            protocolVersion: version, streaming: streaming, messages: true,
            // Idle ticks drive the heartbeat and health checks as well as --idle-exit.
            idleTick: min(options.idleExit ?? .seconds(1), .milliseconds(500)))
    }

    /// --start-lsn and --end-lsn against what the slot has already confirmed: the server would
    /// silently start at its own position instead, so say so and stop.
    private func checkRange(slotPosition confirmed: LSN) throws {
        guard confirmed != .invalid else { return }
        if let start = options.startLSN, start < confirmed {
            throw PostgresError(
                code: .startLSNUnavailable,
                message: "slot \"\(options.source.slot)\" has confirmed everything before \(confirmed), so it can no longer stream from "
                    + "--start-lsn \(start). " + options.source.hints.pastSlot(start: start))
        }
        if let end = options.endLSN, end < confirmed {
            throw PostgresError(
                code: .endLSNPassed,
                message: "slot \"\(options.source.slot)\" has already confirmed everything before \(confirmed), past --end-lsn \(end): "
                    + "there is nothing before \(end) left to stream. Pass a later --end-lsn, or --idle-exit. "
                    + options.source.hints.pastSlot(start: nil))
        }
    }

    /// Takes back what a failed start created; never what was there before it.
    private func undo(_ setup: Setup, on connection: PostgresConnection) async {
        do {
            if setup.createdSlot { try await connection.dropSlot(options.source.slot) }
        } catch {
            logger.error("could not drop the replication slot this failed start created: drop it by hand (SELECT pg_drop_replication_slot(…)), or it holds WAL on the server",
                         metadata: ["replication.slot": "\(options.source.slot)", "error.code": "\(error.code)"])
        }
        do {
            try await connection.undo(setup.publication, to: options.source.publication)
        } catch {
            logger.error("could not take back the publication change this failed start made",
                         metadata: ["replication.publication": "\(options.source.publication)", "error.code": "\(error.code)"])
        }
    }
}
