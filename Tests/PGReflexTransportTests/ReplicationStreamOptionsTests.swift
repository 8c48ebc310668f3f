@testable import PGReflexTransport
import PGReflexWire
import Testing

/// START_REPLICATION as pgoutput is asked: what each server supports, and names quoted as the
/// replication grammar wants them, whatever they hold.
@Suite struct ReplicationStreamOptionsTests {
    @Test func theCommandQuotesNamesAndAsksForWhatTheServerSupports() throws {
        let options = ReplicationStreamOptions(slot: #"my"slot"#, publications: ["p'1", "p2"], startLSN: LSN(0x1_0000_0010), protocolVersion: 2)
        #expect(try options.startCommand(serverVersion: 170_000) == #"START_REPLICATION SLOT "my""slot" LOGICAL 1/10 (proto_version '2', publication_names '"p''1","p2"', messages 'true', streaming 'on')"#)
        var one = options
        one.protocolVersion = 1
        one.streaming = .off
        one.messages = false
        #expect(try one.startCommand(serverVersion: 130_000) == #"START_REPLICATION SLOT "my""slot" LOGICAL 1/10 (proto_version '1', publication_names '"p''1","p2"')"#)
    }

    @Test func whatTheServerCannotDoIsRefusedWithTheFix() {
        var options = ReplicationStreamOptions(slot: "s", publications: ["p"], protocolVersion: 4)
        #expect(throws: PostgresError.self) { try options.startCommand(serverVersion: 150_000) }
        options.protocolVersion = 3
        options.streaming = .parallel
        #expect(throws: PostgresError.self) { try options.startCommand(serverVersion: 160_000) }
        options.protocolVersion = 1
        options.streaming = .on
        #expect(throws: PostgresError.self) { try options.startCommand(serverVersion: 160_000) }
        options.protocolVersion = 0
        options.streaming = .off
        #expect(throws: PostgresError.self) { try options.startCommand(serverVersion: 160_000) }
    }
}
