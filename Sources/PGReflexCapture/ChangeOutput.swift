import PGReflexEnvelope
import PGReflexFiles
import PGReflexJournal
import PGReflexWire

/// Where a consumer's envelope lines go, and what it may confirm to the slot.
///
/// The consumer appends each line to `buffer`, then calls `lineWritten` with the event it
/// encodes (nil for a transaction BEGIN/END line) and where the line starts.
protocol ChangeOutput {
    var buffer: JSONWriter { get set }
    /// The buffer is large enough that the consumer should call `flush` before the batch ends.
    var wantsFlush: Bool { get }
    /// `key`: where the event's key lies in `buffer` (nil for BEGIN/END lines).
    mutating func lineWritten(event: ChangeEvent?, from start: Int, key: Range<Int>?) throws
    mutating func committed(_ commit: TransactionCommit) throws
    /// The server has sent everything before `lsn`, and no transaction is open or held: once
    /// what the output holds is safe, `lsn` itself may be confirmed.
    mutating func caughtUp(to lsn: LSN)
    /// Writes or syncs what policy (or `final`) requires, and says which transaction end LSN
    /// is now safe to confirm. `inputDry`: everything read so far is handled and nothing more
    /// is waiting (group commit syncs then: natural batching).
    mutating func flush(final: Bool, inputDry: Bool) throws -> FlushResult
    /// Returns once the output can take more (a full journal waits for its consumers).
    mutating func waitForRoom() async throws
    /// The slot is ready and will stream from `position`: an output that keeps history (the
    /// journal) refuses a start past it, since the changes in between would be lost unseen.
    func slotReady(at position: LSN) throws
}

extension ChangeOutput {
    mutating func waitForRoom() async throws {}
    func slotReady(at position: LSN) throws {}
}

enum FlushResult {
    /// Everything up to this transaction end is safe downstream.
    case confirm(LSN)
    /// The reader went away: stop, confirming nothing more.
    case closed
}

/// `tail`'s output: lines to a file descriptor (stdout). A transaction is safe once its lines
/// are written.
struct DescriptorOutput: ChangeOutput {
    let writer: FileDescriptorWriter
    var buffer = JSONWriter(capacity: 1 << 20)
    private var lastCommitEnd = LSN.invalid

    init(writer: FileDescriptorWriter) {
        self.writer = writer
    }

    var wantsFlush: Bool { buffer.bytes.count >= 1 << 20 }

    mutating func lineWritten(event: ChangeEvent?, from start: Int, key: Range<Int>?) throws {}

    mutating func committed(_ commit: TransactionCommit) throws {
        lastCommitEnd = commit.endLSN
    }

    mutating func caughtUp(to lsn: LSN) {
        // Called between transactions only: what is buffered is whole transactions.
        lastCommitEnd = max(lastCommitEnd, lsn)
    }

    mutating func flush(final: Bool, inputDry: Bool) throws -> FlushResult {
        if !buffer.bytes.isEmpty {
            do {
                try writer.write(buffer.bytes)
            } catch let error where error.isBrokenPipe {
                return .closed
            }
            buffer.bytes.removeAll(keepingCapacity: true)
        }
        return .confirm(lastCommitEnd)
    }
}
