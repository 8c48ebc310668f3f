public import Logging
public import PGReflexPrivacy
import PGReflexSchema
public import PGReflexTransport
public import PGReflexWire
import Synchronization

/// `pgreflex tail`: stream a slot's changes and print one JSON line per change.
///
/// A transaction's end LSN is confirmed to the slot only after every line up to its commit
/// has been written, so a stop at any point loses nothing and repeats at most the transaction
/// that was being written.
public final class TailPipeline: Sendable {
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

        public init(
            source: SourceOptions, startLSN: LSN? = nil, endLSN: LSN? = nil, idleExit: Duration? = nil,
            protocolVersion: Int? = nil, streaming: ReplicationStreamOptions.Streaming = .on, serverName: String = "pgreflex",
            unavailableValuePlaceholder: String = "__debezium_unavailable_value", transactionEvents: Bool = false,
            decimalHandling: DecimalHandling = .string, privacy: PrivacyPolicy? = nil, schemaRegistry: String? = nil,
            schemaVersionPolicy: SchemaVersionPolicy = .init()
        ) {
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
    private let stopState = Mutex<(requested: Bool, stream: ReplicationStream?)>((false, nil))

    public init(options: Options, logger: Logger) {
        self.options = options
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
        var streamOptions = try await prepare(connection)
        if let idleTick { streamOptions.idleTick = min(streamOptions.idleTick ?? idleTick, idleTick) }
        // Catalog lookups (primary keys, types) need an ordinary session beside the replication one.
        let session = try await PostgresConnection.connect(options.source.dsn, mode: .sql, logger: logger)
        let catalog = RelationCatalog(connection: session)
        let envelopeOptions = EnvelopeWriter.Options(
            serverName: options.serverName, database: try await connection.database,
            unavailableValuePlaceholder: options.unavailableValuePlaceholder, transactionEvents: options.transactionEvents,
            decimalHandling: options.decimalHandling)
        let decoderVersion = streamOptions.protocolVersion
        let parallel = streamOptions.streaming == .parallel
        let options = self.options
        let logger = self.logger

        return try await connection.withReplicationStream(streamOptions) { stream in
            self.stopState.withLock { $0.stream = stream }
            defer { self.stopState.withLock { $0.stream = nil } }
            if self.stopRequested { stream.stop() }

            var consumer = try TailConsumer<Output>(
                decoder: PgOutputDecoder(protocolVersion: decoderVersion, parallelStreaming: parallel),
                envelopes: EnvelopeWriter(options: envelopeOptions), catalog: catalog,
                endLSN: options.endLSN, privacy: options.privacy,
                allowedTables: options.source.tables.isEmpty ? nil : Set(options.source.tables.map { "\($0.schema).\($0.name)" }),
                schemas: try options.schemaRegistry.map { try SchemaRegistry(directory: $0) },
                schemaVersionPolicy: options.schemaVersionPolicy,
                output: output, stream: stream, logger: logger)
            defer { consumer.close() }
            let clock = ContinuousClock()
            var lastActivity = clock.now
            var monitor = SlotMonitor(options: options.source.monitor, now: clock.now)
            var stopReason = StopReason.requested
            for try await batch in stream {
                for action in monitor.tick(at: clock.now) {
                    await self.perform(action, on: session, monitor: &monitor)
                }
                if batch.frames.isEmpty {
                    if let idle = options.idleExit, lastActivity.duration(to: clock.now) >= idle {
                        stopReason = .idle
                        break
                    }
                    // Quiet: let the output sync what it holds (group commit deadlines).
                    if try !consumer.flush() {
                        stopReason = .outputClosed
                        break
                    }
                    continue
                }
                lastActivity = clock.now
                let before = consumer.events
                if let reason = try await consumer.consume(batch) {
                    stopReason = reason
                    break
                }
                if consumer.events != before { monitor.changeSeen(at: clock.now) }
                if self.stopRequested { break }
            }
            if try !consumer.flush(final: true) { stopReason = .outputClosed }
            logger.info("tail stopped", metadata: [
                "tail.events": "\(consumer.events)", "tail.transactions": "\(consumer.transactions)",
                "replication.confirmed_lsn": "\(consumer.confirmed)", "tail.stop_reason": "\(stopReason.rawValue)",
                "tail.heartbeats": "\(consumer.heartbeats)",
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

    /// Slot and publication set-up and the preflight checks; returns what to start with.
    private func prepare(_ connection: PostgresConnection) async throws -> ReplicationStreamOptions {
        try await connection.requireWalLevelLogical()
        if options.source.createSlot, try await connection.slot(named: options.source.slot) == nil {
            _ = try await connection.createSlot(options.source.slot)
        }
        if options.source.createPublication || !options.source.tables.isEmpty {
            try await connection.ensurePublication(
                options.source.publication, tables: options.source.tables, create: options.source.createPublication, allTables: options.source.allTables)
        }
        let slot = try await connection.preflight(slot: options.source.slot, publications: [options.source.publication], tables: options.source.tables)
        if let start = options.startLSN, let confirmed = slot.confirmedFlushLSN, start < confirmed {
            // The server would silently start at its own position instead: say so, and stop.
            throw ReplicationError(
                code: .startLSNUnavailable,
                message: "slot \"\(options.source.slot)\" has confirmed everything before \(confirmed), so it can no longer stream from "
                    + "--start-lsn \(start). Re-deliver that range from the journal with `pgreflex replay --from-lsn \(start)`, "
                    + "or drop --start-lsn to continue from the slot's position")
        }
        let maximum = ReplicationStreamOptions.maximumProtocolVersion(serverVersion: try await connection.serverVersion)
        let version = options.protocolVersion ?? min(2, maximum)
        let streaming: ReplicationStreamOptions.Streaming = version >= 2 ? options.streaming : .off
        return ReplicationStreamOptions(
            slot: options.source.slot, publications: [options.source.publication], startLSN: options.startLSN ?? .invalid,
            protocolVersion: version, streaming: streaming, messages: true,
            // Idle ticks drive the heartbeat and health checks as well as --idle-exit.
            idleTick: min(options.idleExit ?? .seconds(1), .milliseconds(500)))
    }
}
