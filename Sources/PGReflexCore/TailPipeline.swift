public import Logging
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
        public var dsn: String
        public var slot: String
        public var publication: String
        public var tables: [TableName]
        public var createSlot: Bool
        public var createPublication: Bool
        public var allTables: Bool
        public var startLSN: LSN?
        /// Stop once everything committed before this LSN has been printed.
        public var endLSN: LSN?
        /// Stop after this long without changes.
        public var idleExit: Duration?
        /// nil: the highest version up to 2 that the server supports.
        public var protocolVersion: Int?
        public var streaming: ReplicationStreamOptions.Streaming

        public init(
            dsn: String, slot: String, publication: String, tables: [TableName] = [], createSlot: Bool = false,
            createPublication: Bool = false, allTables: Bool = false, startLSN: LSN? = nil, endLSN: LSN? = nil,
            idleExit: Duration? = nil, protocolVersion: Int? = nil, streaming: ReplicationStreamOptions.Streaming = .on
        ) {
            self.dsn = dsn
            self.slot = slot
            self.publication = publication
            self.tables = tables
            self.createSlot = createSlot
            self.createPublication = createPublication
            self.allTables = allTables
            self.startLSN = startLSN
            self.endLSN = endLSN
            self.idleExit = idleExit
            self.protocolVersion = protocolVersion
            self.streaming = streaming
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

    public func run(output: FileDescriptorWriter) async throws -> Summary {
        let connection = try await PostgresConnection.connect(options.dsn, mode: .replication, logger: logger)
        let streamOptions = try await prepare(connection)
        let decoderVersion = streamOptions.protocolVersion
        let parallel = streamOptions.streaming == .parallel
        let options = self.options
        let logger = self.logger

        return try await connection.withReplicationStream(streamOptions) { stream in
            self.stopState.withLock { $0.stream = stream }
            defer { self.stopState.withLock { $0.stream = nil } }
            if self.stopRequested { stream.stop() }

            var decoder = PgOutputDecoder(protocolVersion: decoderVersion, parallelStreaming: parallel)
            var assembler = TransactionAssembler()
            var out = JSONWriter(capacity: 1 << 20)
            var events = 0
            var transactions = 0
            var lastCommitEnd = LSN.invalid
            var confirmed = LSN.invalid
            var stopReason: StopReason = .requested
            let clock = ContinuousClock()
            var lastActivity = clock.now

            /// Writes what is buffered, then confirms the last transaction wholly written.
            func flush() throws -> Bool {
                if !out.bytes.isEmpty {
                    do {
                        try output.write(out.bytes)
                    } catch let error where error.isBrokenPipe {
                        return false
                    }
                    out.bytes.removeAll(keepingCapacity: true)
                }
                if lastCommitEnd > confirmed {
                    confirmed = lastCommitEnd
                    stream.confirm(flush: confirmed)
                }
                return true
            }

            batches: for try await batch in stream {
                var done = false
                if batch.frames.isEmpty {
                    if let idle = options.idleExit, lastActivity.duration(to: clock.now) >= idle {
                        stopReason = .idle
                        break batches
                    }
                    continue
                }
                frames: for frame in batch.frames {
                    switch frame {
                    case .xLogData(let data):
                        let message: PgOutputMessage
                        do {
                            message = try decoder.decode(storage: batch.storage, range: data.data)
                        } catch {
                            throw ReplicationError(code: .protocolViolation, message: "\(error) (at WAL \(data.walStart))")
                        }
                        switch try assembler.handle(message, at: data.walStart) {
                        case .none:
                            break
                        case .begin(_, let finalLSN, _):
                            if let end = options.endLSN, finalLSN >= end {
                                stopReason = .endLSN
                                done = true
                                break frames
                            }
                        case .event(let event):
                            event.writeTailJSON(into: &out)
                            events += 1
                        case .events(let list):
                            for event in list { event.writeTailJSON(into: &out) }
                            events += list.count
                        case .commit(let commit):
                            lastCommitEnd = commit.endLSN
                            transactions += 1
                            if let end = options.endLSN, commit.endLSN >= end {
                                stopReason = .endLSN
                                done = true
                                break frames
                            }
                        case .streamedCommit(let list, let commit):
                            if let end = options.endLSN, commit.commitLSN >= end {
                                stopReason = .endLSN
                                done = true
                                break frames
                            }
                            for event in list { event.writeTailJSON(into: &out) }
                            events += list.count
                            lastCommitEnd = commit.endLSN
                            transactions += 1
                            if let end = options.endLSN, commit.endLSN >= end {
                                stopReason = .endLSN
                                done = true
                                break frames
                            }
                        }
                        if out.bytes.count >= 1 << 20 {
                            guard try flush() else {
                                stopReason = .outputClosed
                                break batches
                            }
                        }
                    case .primaryKeepalive(let keepalive):
                        // Everything committed before walEnd has been sent; with no transaction
                        // open, nothing before the end LSN is still to come.
                        if let end = options.endLSN, keepalive.walEnd >= end, !assembler.inTransaction {
                            stopReason = .endLSN
                            done = true
                            break frames
                        }
                    }
                }
                lastActivity = clock.now
                guard try flush() else {
                    stopReason = .outputClosed
                    break batches
                }
                if done { break batches }
                if self.stopRequested {
                    stopReason = .requested
                    break batches
                }
            }
            _ = try flush()
            logger.info("tail stopped", metadata: [
                "tail.events": "\(events)", "tail.transactions": "\(transactions)",
                "replication.confirmed_lsn": "\(confirmed)", "tail.stop_reason": "\(stopReason.rawValue)",
            ])
            return Summary(events: events, transactions: transactions, confirmedLSN: confirmed, stopReason: stopReason)
        }
    }

    /// Slot and publication set-up and the preflight checks; returns what to start with.
    private func prepare(_ connection: PostgresConnection) async throws -> ReplicationStreamOptions {
        try await connection.requireWalLevelLogical()
        if options.createSlot, try await connection.slot(named: options.slot) == nil {
            _ = try await connection.createSlot(options.slot)
        }
        if options.createPublication || !options.tables.isEmpty {
            try await connection.ensurePublication(
                options.publication, tables: options.tables, create: options.createPublication, allTables: options.allTables)
        }
        let slot = try await connection.preflight(slot: options.slot, publications: [options.publication], tables: options.tables)
        if let start = options.startLSN, let confirmed = slot.confirmedFlushLSN, start < confirmed {
            logger.warning(
                "the slot has already confirmed past --start-lsn; streaming starts at the slot's position. Changes between them are no longer in the slot",
                metadata: ["replication.start_lsn": "\(start)", "replication.confirmed_flush_lsn": "\(confirmed)"])
        }
        let maximum = ReplicationStreamOptions.maximumProtocolVersion(serverVersion: try await connection.serverVersion)
        let version = options.protocolVersion ?? min(2, maximum)
        let streaming: ReplicationStreamOptions.Streaming = version >= 2 ? options.streaming : .off
        return ReplicationStreamOptions(
            slot: options.slot, publications: [options.publication], startLSN: options.startLSN ?? .invalid,
            protocolVersion: version, streaming: streaming, messages: true,
            idleTick: options.idleExit.map { min($0, .milliseconds(500)) })
    }
}
