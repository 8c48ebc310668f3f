import PGReflexCapture
import PGReflexDelivery
import PGReflexFiles
import PGReflexJournal
import PGReflexSchema
@testable import PGReflexTransport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What a dispatcher needs from an error: a code it can switch over, the cause kept, and
/// whether retrying can help.
@Suite struct ErrorClassificationTests {
    @Test func replicationErrorsSayWhetherToRetry() {
        let retryable = Set(PostgresError.Code.allCases.filter { PostgresError(code: $0, message: "").isRetryable })
        #expect(retryable == [.connectionLost, .connectionFailed])
        #expect(PostgresError(code: .server, message: "", sqlState: "57P01").isRetryable)  // admin shutdown
        #expect(!PostgresError(code: .server, message: "", sqlState: "42P01").isRetryable)
    }

    /// The table by SQLSTATE: every rule is reached by its own state and words, the first
    /// matching rule wins, and an error no rule knows is `server_error` with PostgreSQL's text.
    @Test func serverErrorsAreClassifiedBySQLState() {
        for rule in PostgresError.serverRules {
            let message = "ERROR: " + (rule.mentions.first ?? "anything")
            let error = PostgresError.classifyServer(sqlState: rule.sqlState, message: message)
            let first = PostgresError.serverRules.first { $0.sqlState == rule.sqlState && ($0.mentions.isEmpty || $0.mentions.contains { message.lowercased().contains($0) }) }
            #expect(error.code == first?.code, "\(rule.sqlState) \(rule.mentions)")
        }
        #expect(PostgresError.classifyServer(sqlState: "42704", message: "type \"x\" does not exist").code == .server)
        let unknown = PostgresError.classifyServer(sqlState: "XX000", message: "internal error")
        #expect(unknown.code == .server && unknown.sqlState == "XX000" && unknown.message.contains("internal error"))
        #expect(PostgresError.classifyConnectFailure("FATAL:  role \"nobody\" does not exist", endpoint: "db:5432").code == .roleNotFound)
        #expect(PostgresError.classifyConnectFailure("could not translate host name", endpoint: "db:5432").code == .connectionFailed)
    }

    @Test func aDecodingFailureKeepsItsCause() throws {
        let wire = WireDecodingError(code: .trailingBytes, message: "pgoutput Insert", field: "end", offset: 12)
        let error = PostgresError(code: .protocolViolation, message: "\(wire)", underlying: wire)
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
