import Logging
import PGReflexEnvelope
import PGReflexFiles
import PGReflexJournal
import PGReflexPrivacy
import PGReflexSchema
import PGReflexSnapshot
import PGReflexStatus
import PGReflexTransport
import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

/// The body of `tail` and `run`: decodes batches, writes envelopes to its output, and confirms
/// to the slot only what the output says is safe (written, or durable in the journal).
struct CaptureSession<Output: ChangeOutput> {
    var decoder: PgOutputDecoder
    var assembler = TransactionAssembler()
    var envelopes: EnvelopeWriter
    var output: Output
    let catalog: RelationCatalog?
    let endLSN: LSN?
    let privacy: PrivacyPolicy?
    /// Numbers each table shape; saved to its directory when `persistSchemas`.
    private var schemas: SchemaRegistry
    let persistSchemas: Bool
    /// Whether a new version is recorded as pending (its events held by `run`'s output).
    let schemaVersionPolicy: SchemaVersionPolicy
    /// `schema.table` of the configured tables; events of other published tables are skipped.
    let allowedTables: Set<String>?
    /// Relations of published tables outside `allowedTables`, decided once per shape.
    private var skippedRelations = Set<UInt32>()
    let stream: ReplicationStream
    let logger: Logger
    private(set) var events = 0
    private(set) var transactions = 0
    /// Heartbeat messages seen (not written).
    private(set) var heartbeats = 0
    private(set) var confirmed = LSN.invalid
    private var spill: StreamedTransactionSpill
    /// Descriptors with catalog details, by relation OID, reused while the relation is unchanged.
    private var described: [UInt32: RelationDescriptor] = [:]
    private var warnedNoIdentity = Set<UInt32>()
    /// A keepalive found nothing open since the last flush.
    private var caughtUp = false
    private var warnedTypes = Set<String>()
    var processing = EnvelopeWriter.ProcessingTime.now()
    /// An incremental snapshot's chunk waiting for its high watermark (see CaptureSession+Snapshot).
    var openChunk: OpenChunk?
    /// The last chunk whose rows were written, until the snapshot driver records it.
    var closedChunk: ClosedChunk?
    /// What committed lately, for a chunk read to tell whether it missed a streamed transaction.
    private(set) var recentCommits = RecentTransactions()
    /// What the status page and metrics see: published once per batch, not per change.
    private var progress = CaptureProgress()
    private var metrics: CaptureMetrics

    init(decoder: PgOutputDecoder, envelopes: EnvelopeWriter, catalog: RelationCatalog?, endLSN: LSN?,
         privacy: PrivacyPolicy? = nil, allowedTables: Set<String>? = nil, schemas: SchemaRegistry? = nil,
         schemaVersionPolicy: SchemaVersionPolicy = .init(), confirmed: LSN = .invalid, output: Output, stream: ReplicationStream,
         metricsEnabled: Bool = false, logger: Logger) throws {
        metrics = CaptureMetrics(enabled: metricsEnabled)
        self.confirmed = confirmed
        self.persistSchemas = schemas != nil
        self.schemaVersionPolicy = schemaVersionPolicy
        self.schemas = schemas ?? SchemaRegistry()
        self.privacy = privacy
        self.allowedTables = allowedTables
        spill = StreamedTransactionSpill()
        self.decoder = decoder
        self.envelopes = envelopes
        self.catalog = catalog
        self.endLSN = endLSN
        self.output = output
        self.stream = stream
        self.logger = logger
    }

    /// Handles one batch; returns a reason when tail should stop.
    mutating func consume(_ batch: ReplicationBatch) async throws -> CapturePipeline.StopReason? {
        try await output.waitForRoom()
        processing = .now()
        var reason: CapturePipeline.StopReason?
        frames: for frame in batch.frames {
            switch frame {
            case .xLogData(let data):
                progress.serverWALEnd = max(progress.serverWALEnd, data.walEnd.rawValue)
                progress.caughtUp = false
                let message: PgOutputMessage
                do {
                    message = try decoder.decode(storage: batch.storage, range: data.data)
                } catch {
                    throw PostgresError(code: .protocolViolation, message: "\(error) (at WAL \(data.walStart))", underlying: error)
                }
                if case .relation(let relation) = message, message.streamXid == nil,
                   assembler.relations[relation.oid]?.relation != relation {
                    assembler.register(try await describe(relation))
                }
                let action = try assembler.handle(message, at: data.walStart)
                if case .hold(let xid) = action {
                    try spill.hold(xid: xid, lsn: data.walStart, storage: batch.storage, range: data.data)
                } else if try await handle(action) {
                    reason = .endLSN
                    break frames
                }
                if output.wantsFlush, try !flush() {
                    return .outputClosed
                }
            case .primaryKeepalive(let keepalive):
                progress.serverWALEnd = max(progress.serverWALEnd, keepalive.walEnd.rawValue)
                // Everything before walEnd has been sent. With no transaction open and none held,
                // nothing before walEnd is still to come: once the output has made safe what it
                // holds, walEnd may be confirmed (PostgreSQL waits for that at shutdown).
                if !assembler.inTransaction && spill.isEmpty {
                    markCaughtUp(to: keepalive.walEnd)
                    if let endLSN, keepalive.walEnd >= endLSN {
                        reason = .endLSN
                        break frames
                    }
                }
            }
        }
        if try !flush(inputDry: stream.isDrained) { return .outputClosed }
        return reason
    }

    /// Nothing before `lsn` is still to come. With an end LSN, no further than it: `--end-lsn`
    /// confirms exactly up to the end, even when the server has read further.
    private mutating func markCaughtUp(to lsn: LSN) {
        output.caughtUp(to: endLSN.map { min(lsn, $0) } ?? lsn)
        caughtUp = true
        progress.caughtUp = true
    }

    mutating func write(_ event: ChangeEvent) throws {
        if !skippedRelations.isEmpty, let oid = event.relation?.relation.oid, skippedRelations.contains(oid) { return }
        if openChunk != nil, event.snapshot == nil { observeForSnapshot(event) }
        if let relation = event.relation, relation.relation.replicaIdentity == .nothing,
           event.operation == .update || event.operation == .delete,
           warnedNoIdentity.insert(relation.relation.oid).inserted {
            logger.warning(
                "table has REPLICA IDENTITY NOTHING: its updates and deletes carry no before image. Set a primary key or ALTER TABLE … REPLICA IDENTITY FULL",
                metadata: ["table": "\(relation.qualifiedName)"])
        }
        let start = output.buffer.bytes.count
        let key = envelopes.write(event, at: processing, into: &output.buffer)
        try output.lineWritten(event: event, from: start, key: key)
        events += 1
        metrics.received(event)
    }

    /// A descriptor with the catalog's details (when there is a catalog), looked up once per
    /// relation shape.
    mutating func describe(_ relation: PgOutputMessage.Relation) async throws -> RelationDescriptor {
        if let known = described[relation.oid], known.relation == relation { return known }
        let name = "\(relation.namespace).\(relation.name)"
        if let allowedTables, !allowedTables.contains(name) {
            if skippedRelations.insert(relation.oid).inserted {
                logger.warning("the publication includes a table that is not among the configured tables: its changes are skipped",
                               metadata: ["table": "\(name)"])
            }
            return RelationDescriptor(relation)  // never written: no catalog lookup, no schema version
        } else {
            skippedRelations.remove(relation.oid)
        }
        guard let catalog else { return RelationDescriptor(relation, privacy: privacy) }
        let details = try await catalog.details(for: relation)
        for type in details.unknownTypes where warnedTypes.insert(type).inserted {
            logger.warning("no JSON mapping for this type: its values are written as their text form",
                           metadata: ["type": "\(type)"])
        }
        let schema = try await catalog.tableSchema(for: relation).protected(by: privacy)
        let pending = persistSchemas && schemaVersionPolicy.action(for: name) == .hold
        let wasCurrent = schemas.tables[schema.qualifiedName]?.current
        var (version, isNew) = schemas.record(schema, pending: pending)
        // A stream back on an earlier shape is saved too: `check --registry` judges routes
        // against the version the stream is on.
        if (isNew || wasCurrent != version) && persistSchemas {
            // Recorded again under the registry's lock, on what is on disk now: `schema accept`
            // or `schema snapshot` may have changed it since it was loaded.
            (schemas, version, isNew) = try SchemaRegistry.update(directory: schemas.directory) { registry in
                let recorded = registry.record(schema, pending: pending)
                return (registry, recorded.version, recorded.isNew)
            }
        }
        if isNew && persistSchemas && version == 1 {
            logger.info("registered the table's first schema version: its events are delivered. Review it and commit the registry", metadata: [
                "table": "\(schema.qualifiedName)", "schema.version": "1", "schema.registry": "\(schemas.directory)",
            ])
        } else if isNew && persistSchemas {
            logger.warning(pending
                ? "recorded a new schema version as pending: the table's events are held until it is accepted"
                : "recorded a new schema version in the registry: review it and commit it", metadata: [
                "table": "\(schema.qualifiedName)", "schema.version": "\(version)", "schema.registry": "\(schemas.directory)",
            ])
        } else if isNew && version > 1 {
            logger.notice("the table's schema changed mid-stream", metadata: ["table": "\(schema.qualifiedName)", "schema.version": "\(version)"])
        }
        let descriptor = RelationDescriptor(relation, details: details, privacy: privacy, schemaVersion: version)
        described[relation.oid] = descriptor
        return descriptor
    }

    /// Replays a committed streamed transaction from its spill file, one message at a time.
    private mutating func replay(_ commit: PgOutputMessage.StreamCommit) async throws -> TransactionCommit {
        var (reader, aborted) = try spill.release(xid: commit.xid)
        var replay = StreamedTransactionReplay(commit: commit, abortedSubtransactions: aborted)
        if envelopes.options.transactionEvents {
            let start = output.buffer.bytes.count
            envelopes.writeBegin(xid: commit.xid, commitLSN: commit.commitLSN, commitTime: commit.commitTime, into: &output.buffer)
            try output.lineWritten(event: nil, from: start, key: nil)
        }
        while let (lsn, bytes) = try reader.next() {
            let message: PgOutputMessage
            do {
                message = try PgOutputMessage.decode(storage: bytes, range: 0..<bytes.count, protocolVersion: decoder.protocolVersion,
                                                     streamed: true, parallelStreaming: decoder.parallelStreaming)
            } catch {
                throw PostgresError(code: .protocolViolation, message: "\(error) (replaying WAL \(lsn))", underlying: error)
            }
            if case .relation(let relation) = message, replay.relations[relation.oid]?.relation != relation {
                replay.register(try await describe(relation))
            }
            for event in try replay.handle(message, at: lsn) { try write(event) }
            if output.wantsFlush, try !flush() { throw FileDescriptorWriter.WriteError(errno: EPIPE) }
        }
        // On a streamed commit pgoutput counts the relations it sent in the stream as sent for
        // every later transaction too: they become the live ones. (After an abort it resends.)
        for descriptor in replay.relations.values {
            var relation = descriptor.relation
            relation.xid = nil
            assembler.register(try await describe(relation))
        }
        return replay.commit
    }

    /// A transaction (or a streamed one) has begun and not yet committed or aborted.
    var isMidTransaction: Bool { assembler.inTransaction || !spill.isEmpty }

    /// Removes what is still spilled (transactions that never committed while we ran).
    mutating func close() {
        spill.removeAll()
    }

    /// Writes the lines an action produces; returns true once the end LSN is reached.
    private mutating func handle(_ action: TransactionAssembler.Action) async throws -> Bool {
        // Returns whether the end LSN is reached.
        switch action {
        case .none:
            return false
        case .begin(let xid, let finalLSN, let commitTime):
            // Commits at or after the end: not printed.
            if let endLSN, finalLSN >= endLSN { return true }
            if envelopes.options.transactionEvents {
                let start = output.buffer.bytes.count
                envelopes.writeBegin(xid: xid, commitLSN: finalLSN, commitTime: commitTime, into: &output.buffer)
                try output.lineWritten(event: nil, from: start, key: nil)
            }
            return false
        case .event(let event):
            if event.operation == .message, let message = event.message, message.prefix == Watermark.prefix {
                // A snapshot's watermark: never journaled; the open window's high one emits its chunk.
                try handleWatermark(message, committedAt: event.commitLSN)
                return false
            }
            if event.operation == .message, let message = event.message, !message.isTransactional,
               message.prefix == CapturePipeline.heartbeatPrefix {
                // Not an event: a position to confirm while the captured tables are idle.
                heartbeats += 1
                if !assembler.inTransaction && spill.isEmpty { markCaughtUp(to: message.lsn) }
                return false
            }
            try write(event)
            return false
        case .events(let list):
            for event in list { try write(event) }
            return false
        case .commit(let commit):
            try finish(commit)
            return endLSN.map { commit.endLSN >= $0 } ?? false
        case .hold:
            return false  // handled by the caller, which has the message's bytes
        case .discard(let xid, let subxid):
            spill.discard(xid: xid, subxid: subxid)
            return false
        case .releaseStreamed(let commit):
            if let endLSN, commit.commitLSN >= endLSN { return true }
            try finish(try await replay(commit))
            return endLSN.map { commit.endLSN >= $0 } ?? false
        }
    }

    private mutating func finish(_ commit: TransactionCommit) throws {
        if envelopes.options.transactionEvents {
            let start = output.buffer.bytes.count
            envelopes.writeEnd(commit, into: &output.buffer)
            try output.lineWritten(event: nil, from: start, key: nil)
        }
        envelopes.committed(commit)
        try output.committed(commit)
        recentCommits.committed(commit.xid)
        transactions += 1
        progress.receivedLSN = commit.endLSN.rawValue
        progress.lastCommitTime = commit.commitTime.unixMicroseconds
    }

    /// Lets the output write or sync what it holds, then confirms what it says is safe.
    /// Returns false when the output has closed (EPIPE); nothing more is confirmed then.
    mutating func flush(final: Bool = false, inputDry: Bool = false) throws -> Bool {
        switch try output.flush(final: final, inputDry: inputDry) {
        case .closed:
            return false
        case .confirm(let lsn):
            if lsn > confirmed {
                confirmed = lsn
                stream.confirm(flush: lsn)
                // A keepalive asked for it (or the server is shutting down): answer now, not at the next interval.
                if caughtUp { stream.sendStatusNow() }
            }
            caughtUp = false
            return true
        }
    }

    /// Hands this batch's progress to the status and the metrics.
    mutating func publish(to status: PipelineStatus, now: Int64) {
        progress.changes = events
        progress.transactions = transactions
        progress.confirmedLSN = confirmed.rawValue
        if !assembler.inTransaction && spill.isEmpty && progress.receivedLSN >= progress.serverWALEnd { progress.caughtUp = true }
        let progress = self.progress
        status.updateCapture { $0.progress = progress }
        metrics.publish(progress, now: now)
    }
}
