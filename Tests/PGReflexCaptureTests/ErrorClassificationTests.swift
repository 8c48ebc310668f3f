import PGReflexCapture
import PGReflexDelivery
import PGReflexFiles
import PGReflexJournal
import PGReflexSchema
import PGReflexTransport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What a dispatcher needs from an error: a code it can switch over, the cause kept, and
/// whether retrying can help.
@Suite struct ErrorClassificationTests {
    @Test func replicationErrorsSayWhetherToRetry() {
        let retryable = Set(ReplicationError.Code.allCases.filter { ReplicationError(code: $0, message: "").isRetryable })
        #expect(retryable == [.connectionLost, .connectionFailed])
        #expect(ReplicationError(code: .server, message: "", sqlState: "57P01").isRetryable)  // admin shutdown
        #expect(!ReplicationError(code: .server, message: "", sqlState: "42P01").isRetryable)
    }

    @Test func aDecodingFailureKeepsItsCause() throws {
        let wire = WireDecodingError(code: .trailingBytes, message: "pgoutput Insert", field: "end", offset: 12)
        let error = ReplicationError(code: .protocolViolation, message: "\(wire)", underlying: wire)
        let cause = try #require(error.underlying as? WireDecodingError)
        #expect(cause.code == .trailingBytes && cause.offset == 12)
        #expect(!error.isRetryable && !cause.isRetryable)
    }

    @Test func journalAndSinkErrorsAreTheirOwnTypes() {
        #expect(JournalError(code: .io, segment: "s", message: "").isRetryable)
        #expect(!JournalError(code: .corruptRecord, segment: "s", message: "").isRetryable)
        #expect(!JournalError(code: .checkpointCorrupt, segment: "s", message: "").isRetryable)
        let full = SinkError(code: .writeFailed, path: "/x/events.jsonl", errno: ENOSPC)
        #expect(full.isRetryable)
        #expect("\(full)".contains("No space left on device"), "\(full)")
        let readOnly = SinkError(code: .openFailed, path: "/x/events.jsonl", errno: EROFS)
        #expect(!readOnly.isRetryable)
        #expect("\(readOnly)".contains("Read-only file system") && "\(readOnly)".contains("sink.file.path"), "\(readOnly)")
    }
}
