import PGReflexCapture
import PGReflexTransport
import Testing

@Suite struct ReconnectBackoffTests {
    @Test func doublesUpToTheMaximumAndResets() {
        var backoff = ReconnectBackoff(initial: .milliseconds(500), maximum: .seconds(4))
        #expect((0..<6).map { _ in backoff.failed() } == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4)])
        backoff.succeeded()
        #expect(backoff.failed() == .milliseconds(500))
    }

    @Test func onlyTransientErrorsAreRetried() {
        #expect(PostgresError(code: .connectionLost, message: "").isRetryable)
        #expect(PostgresError(code: .server, message: "", sqlState: "57P01").isRetryable)
        #expect(!PostgresError(code: .slotNotFound, message: "").isRetryable)
        #expect(!PostgresError(code: .walLevelNotLogical, message: "").isRetryable)
        #expect(!PostgresError(code: .server, message: "", sqlState: "42P01").isRetryable)
    }
}
