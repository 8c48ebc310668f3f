import PGReflexTransport
import PGReflexWire

/// The body of `tail`: decodes batches, writes JSON lines, and confirms a transaction's end
/// LSN only once every line up to its commit has been written.
struct TailConsumer {
    var decoder: PgOutputDecoder
    var assembler = TransactionAssembler()
    var out = JSONWriter(capacity: 1 << 20)
    var transactionFields = ChangeEvent.TransactionFieldsCache()
    let endLSN: LSN?
    let output: FileDescriptorWriter
    let stream: ReplicationStream
    private(set) var events = 0
    private(set) var transactions = 0
    /// The end LSN of the last transaction whose lines are all in `out` or written.
    private var lastCommitEnd = LSN.invalid
    private(set) var confirmed = LSN.invalid

    init(decoder: PgOutputDecoder, endLSN: LSN?, output: FileDescriptorWriter, stream: ReplicationStream) {
        self.decoder = decoder
        self.endLSN = endLSN
        self.output = output
        self.stream = stream
    }

    /// Handles one batch; returns a reason when tail should stop.
    mutating func consume(_ batch: ReplicationBatch) throws -> TailPipeline.StopReason? {
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
                if handle(try assembler.handle(message, at: data.walStart)) {
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

    /// Writes the lines an action produces; returns true once the end LSN is reached.
    private mutating func handle(_ action: TransactionAssembler.Action) -> Bool {
        switch action {
        case .none:
            return false
        case .begin(_, let finalLSN, _):
            // Commits at or after the end: not printed.
            return endLSN.map { finalLSN >= $0 } ?? false
        case .event(let event):
            event.writeTailJSON(into: &out, cache: &transactionFields)
            events += 1
            return false
        case .events(let list):
            for event in list { event.writeTailJSON(into: &out, cache: &transactionFields) }
            events += list.count
            return false
        case .commit(let commit):
            lastCommitEnd = commit.endLSN
            transactions += 1
            return endLSN.map { commit.endLSN >= $0 } ?? false
        case .streamedCommit(let list, let commit):
            if let endLSN, commit.commitLSN >= endLSN { return true }
            for event in list { event.writeTailJSON(into: &out, cache: &transactionFields) }
            events += list.count
            lastCommitEnd = commit.endLSN
            transactions += 1
            return endLSN.map { commit.endLSN >= $0 } ?? false
        }
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
