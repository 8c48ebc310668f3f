import Foundation
import Logging
import PGReflexAgentContract
import PGReflexAgents
@testable import PGReflexDelivery
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexWire
import Synchronization
import Testing

/// The direct lane (an agent that answers at once, nothing waiting): a row's changes keep their
/// order through failures, and a breaker another route opened is left to the queue's probe.
@Suite struct DirectLaneTests {
    /// Answers at once; fails the calls `failing` names (retryably) the first time each is seen.
    final class FlakyAgent: Agent {
        let name = "flaky"
        let failing: Set<String>
        let log = Mutex<(succeeded: [String], failedOnce: Set<String>)>(([], []))

        init(failing: Set<String>) { self.failing = failing }

        var answersAtOnce: Bool { true }

        func handle(_ call: AgentCall) async -> AgentOutcome { handleAtOnce([call])[0] }

        func handleAtOnce(_ calls: [AgentCall]) -> [AgentOutcome] {
            log.withLock { log in
                calls.map { call in
                    let id = call.events[0].id
                    if failing.contains(id) && log.failedOnce.insert(id).inserted {
                        return .failure(AgentError(code: .temporary, message: "not yet"))
                    }
                    log.succeeded.append(id)
                    return .success(output: nil)
                }
            }
        }
    }

    /// A journal of `rows` × `changes` inserts, one transaction per change round, finished.
    func journal(rows: Int, changes: Int) throws -> (directory: String, channel: JournalChannel, ids: [[String]]) {
        let directory = NSTemporaryDirectory() + "pgreflex-lane-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let journal = try Journal(options: .init(directory: directory + "/journal"), logger: Logger(label: "test"))
        var ids = Array(repeating: [String](), count: rows)
        for round in 0..<changes {
            let lsn = UInt64(0x1000 + round * 0x100)
            for row in 0..<rows {
                let position = EventPosition(commitLSN: LSN(lsn), ordinal: row)
                ids[row].append(EventID.string(lsn: lsn, ordinal: row))
                try journal.append(JournalRecord(
                    position: position, transactionEnd: row == rows - 1 ? LSN(lsn + 0x10) : nil,
                    metadata: .init(table: "public.t", operation: UInt8(ascii: "u"), schemaVersion: 1, xid: UInt32(round + 1),
                                    commitTime: 0, keyHash: UInt64(row + 1)),
                    envelope: Array("{\"row\":\(row)}".utf8)))
            }
        }
        try journal.sync()
        let channel = JournalChannel(mark: journal.durableMark)
        channel.finish()
        return (directory, channel, ids)
    }

    func route(_ runtime: AgentRuntime, _ setup: (directory: String, channel: JournalChannel, ids: [[String]])) async throws -> RouteConsumer {
        let settings = RouteSettings(route: Route(name: "lane", tables: [TablePattern(parsing: "public.t")!]), agent: runtime.name, start: .earliest,
                                     retry: RetryPolicy(attempts: 5, initial: .milliseconds(1), max: .milliseconds(1)))
        return try await RouteConsumer(settings: settings, runtime: runtime, store: try SQLiteStateStore(directory: setup.directory + "/state"),
                                       journalDirectory: setup.directory + "/journal", channel: setup.channel, logger: Logger(label: "test"))
    }

    @Test func aRowsLaterChangeWaitsForItsEarlierOnesRetry() async throws {
        let setup = try journal(rows: 4, changes: 3)
        defer { try? FileManager.default.removeItem(atPath: setup.directory) }
        // Row 1's first change fails once; its second and third must still come after it.
        let agent = FlakyAgent(failing: [setup.ids[1][0]])
        let consumer = try await route(AgentRuntime(agent: agent), setup)
        try await consumer.run()
        let succeeded = agent.log.withLock { $0.succeeded }
        #expect(Set(succeeded) == Set(setup.ids.flatMap { $0 }) && succeeded.count == 12, "\(succeeded)")
        for row in setup.ids {
            #expect(succeeded.filter(row.contains) == row, "row order: \(succeeded)")
        }
        #expect(await consumer.counts.retries == 1)
    }

    /// A breaker another route opened and whose cool-down is over: its one probe is the queue's
    /// to send. Taking it and sending nothing would leave every route of the agent waiting: the
    /// run would never end (the time limit is that hang's guard, not a measure; a loaded CI
    /// machine once held this suite's tasks for 200 s).
    @Test(.timeLimit(.minutes(10))) func aBreakerOpenedElsewhereGetsItsProbeAndCloses() async throws {
        let setup = try journal(rows: 3, changes: 2)
        defer { try? FileManager.default.removeItem(atPath: setup.directory) }
        let agent = FlakyAgent(failing: [])
        let runtime = AgentRuntime(agent: agent, breakerFailures: 1, breakerCoolDown: .zero)
        _ = runtime.failed(now: .now)
        #expect(runtime.breakerState == "open")
        let consumer = try await route(runtime, setup)
        try await consumer.run()
        #expect(agent.log.withLock { $0.succeeded.count } == 6)
        #expect(runtime.breakerState == "closed")
    }
}
