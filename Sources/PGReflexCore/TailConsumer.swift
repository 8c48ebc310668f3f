import Logging
import PGReflexTransport
import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

/// The body of `tail`: decodes batches, writes envelopes, and confirms a transaction's end
/// LSN only once every line up to its commit has been written.
struct TailConsumer {
    var decoder: PgOutputDecoder
    var assembler = TransactionAssembler()
    var envelopes: EnvelopeWriter
    var out = JSONWriter(capacity: 1 << 20)
    let catalog: RelationCatalog?
    let endLSN: LSN?
    let output: FileDescriptorWriter
    let stream: ReplicationStream
    let logger: Logger
    private(set) var events = 0
    private(set) var transactions = 0
    /// The end LSN of the last transaction whose lines are all in `out` or written.
    private var lastCommitEnd = LSN.invalid
    private(set) var confirmed = LSN.invalid
    private var spill: StreamedTransactionSpill
    /// Descriptors with catalog details, by relation OID, reused while the relation is unchanged.
    private var described: [UInt32: RelationDescriptor] = [:]
    private var warnedNoIdentity = Set<UInt32>()
    private var warnedTypes = Set<String>()
    private var processing = EnvelopeWriter.ProcessingTime.now()

    init(decoder: PgOutputDecoder, envelopes: EnvelopeWriter, catalog: RelationCatalog?, endLSN: LSN?,
         output: FileDescriptorWriter, stream: ReplicationStream, logger: Logger) throws {
        spill = try StreamedTransactionSpill()
        self.decoder = decoder
        self.envelopes = envelopes
        self.catalog = catalog
        self.endLSN = endLSN
        self.output = output
        self.stream = stream
        self.logger = logger
    }

    /// Handles one batch; returns a reason when tail should stop.
    mutating func consume(_ batch: ReplicationBatch) async throws -> TailPipeline.StopReason? {
        processing = .now()
        var reason: TailPipeline.StopReason?
        frames: for frame in batch.frames {
            switch frame {
            case .xLogData(let data):
                let message: PgOutputMessage
                do {
                    message = try decoder.decode(storage: batch.storage, range: data.data)
                } catch {
                    throw ReplicationError(code: .protocolViolation, message: "\(error) (at WAL \(data.walStart))")
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
                if out.bytes.count >= 1 << 20, try !flush() {
                    return .outputClosed
                }
            case .primaryKeepalive(let keepalive):
                // Everything committed before walEnd has been sent; with no transaction open,
                // nothing before the end LSN is still to come.
                if let endLSN, keepalive.walEnd >= endLSN, !assembler.inTransaction {
                    reason = .endLSN
                    break frames
                }
            }
        }
        if try !flush() { return .outputClosed }
        return reason
    }

    private mutating func write(_ event: ChangeEvent) {
        if let relation = event.relation, relation.relation.replicaIdentity == .nothing,
           event.operation == .update || event.operation == .delete,
           warnedNoIdentity.insert(relation.relation.oid).inserted {
            logger.warning(
                "table has REPLICA IDENTITY NOTHING: its updates and deletes carry no before image. Set a primary key or ALTER TABLE … REPLICA IDENTITY FULL",
                metadata: ["table": "\(relation.relation.namespace).\(relation.relation.name)"])
        }
        envelopes.write(event, at: processing, into: &out)
        events += 1
    }

    /// A descriptor with the catalog's details (when there is a catalog), looked up once per
    /// relation shape.
    private mutating func describe(_ relation: PgOutputMessage.Relation) async throws -> RelationDescriptor {
        if let known = described[relation.oid], known.relation == relation { return known }
        guard let catalog else { return RelationDescriptor(relation) }
        let details = try await catalog.details(for: relation)
        for type in details.unknownTypes where warnedTypes.insert(type).inserted {
            logger.warning("no JSON mapping for this type: its values are written as their text form",
                           metadata: ["type": "\(type)"])
        }
        let descriptor = RelationDescriptor(relation, details: details)
        described[relation.oid] = descriptor
        return descriptor
    }

    /// Replays a committed streamed transaction from its spill file, one message at a time.
    private mutating func replay(_ commit: PgOutputMessage.StreamCommit) async throws -> TransactionCommit {
        var (reader, aborted) = try spill.release(xid: commit.xid)
        var replay = StreamedTransactionReplay(commit: commit, abortedSubtransactions: aborted)
        if envelopes.options.transactionEvents {
            envelopes.writeBegin(xid: commit.xid, commitLSN: commit.commitLSN, commitTime: commit.commitTime, into: &out)
        }
        while let (lsn, bytes) = try reader.next() {
            let message: PgOutputMessage
            do {
                message = try PgOutputMessage.decode(storage: bytes, range: 0..<bytes.count, protocolVersion: decoder.protocolVersion,
                                                     streamed: true, parallelStreaming: decoder.parallelStreaming)
            } catch {
                throw ReplicationError(code: .protocolViolation, message: "\(error) (replaying WAL \(lsn))")
            }
            if case .relation(let relation) = message, replay.relations[relation.oid]?.relation != relation {
                replay.register(try await describe(relation))
            }
            for event in try replay.handle(message, at: lsn) { write(event) }
            if out.bytes.count >= 1 << 20, try !flush() { throw FileDescriptorWriter.WriteError(errno: EPIPE) }
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

    /// Removes what is still spilled (transactions that never committed while we ran).
    mutating func close() {
        spill.removeAll()
    }

    /// Writes the lines an action produces; returns true once the end LSN is reached.
    private mutating func handle(_ action: TransactionAssembler.Action) async throws -> Bool {
        switch action {
        case .none:
            return false
        case .begin(let xid, let finalLSN, let commitTime):
            // Commits at or after the end: not printed.
            if let endLSN, finalLSN >= endLSN { return true }
            if envelopes.options.transactionEvents {
                envelopes.writeBegin(xid: xid, commitLSN: finalLSN, commitTime: commitTime, into: &out)
            }
            return false
        case .event(let event):
            write(event)
            return false
        case .events(let list):
            for event in list { write(event) }
            return false
        case .commit(let commit):
            finish(commit)
            return endLSN.map { commit.endLSN >= $0 } ?? false
        case .hold:
            return false  // handled by the caller, which has the message's bytes
        case .discard(let xid, let subxid):
            spill.discard(xid: xid, subxid: subxid)
            return false
        case .releaseStreamed(let commit):
            if let endLSN, commit.commitLSN >= endLSN { return true }
            finish(try await replay(commit))
            return endLSN.map { commit.endLSN >= $0 } ?? false
        }
    }

    private mutating func finish(_ commit: TransactionCommit) {
        if envelopes.options.transactionEvents { envelopes.writeEnd(commit, into: &out) }
        envelopes.committed(commit)
        lastCommitEnd = commit.endLSN
        transactions += 1
    }

    /// Writes what is buffered, then confirms the last transaction wholly written. Returns
    /// false when the reader has gone away (EPIPE); nothing more is confirmed then.
    mutating func flush() throws -> Bool {
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
}
