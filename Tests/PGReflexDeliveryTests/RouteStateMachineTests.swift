import Foundation
import PGReflexAgentContract
@testable import PGReflexDelivery
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexTestSupport
import PGReflexWire
import Testing

/// A route's decisions without PostgreSQL and without sleeping: its state machine, driven by
/// hand over a real journal and state store (``RouteMachineDriver``).
@Suite struct RouteStateMachineTests {
    static let base: Int64 = 1_800_000_000_000_000

    static func settings(_ name: String = "r", key: String? = nil, debounce: Duration? = nil, window: Int? = nil,
                         condition: String? = nil, concurrency: Int = 4, attempts: Int = 3) throws -> RouteSettings {
        RouteSettings(route: Route(name: name, tables: [TablePattern(parsing: "public.orders")!], condition: try condition.map { try CELExpression($0) }),
                      agent: "scripted", start: .earliest, key: try key.map { try CELExpression($0) },
                      concurrency: .init(limit: concurrency),
                      debounce: debounce.map { .init(period: $0, key: try? CELExpression("after.k")) },
                      window: window.map { .init(count: $0, period: .seconds(30), key: try? CELExpression("after.k")) },
                      retry: RetryPolicy(attempts: attempts, initial: .milliseconds(2), max: .milliseconds(2)))
    }

    /// A driver over `rows`, in a directory the test removes.
    static func driver(_ settings: RouteSettings, rows: [(id: Int, k: Int)], answersAtOnce: Bool = false, sharedValues: EventValuesCache? = nil,
                       outcome: @escaping (AgentCall) -> AgentOutcome = { _ in .success(output: nil) }) async throws -> (RouteMachineDriver, String) {
        let directory = NSTemporaryDirectory() + "pgreflex-machine-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let mark = try RouteMachineDriver.journal(rows: rows, in: directory + "/journal", base: base)
        let driver = try await RouteMachineDriver(settings: settings, answersAtOnce: answersAtOnce, directory: directory, mark: mark,
                                                  wall: base, sharedValues: sharedValues, outcome: outcome)
        return (driver, directory)
    }

    static func id(_ row: Int) -> String { EventID.string(lsn: UInt64(0x1000 + row * 0x100), ordinal: 0) }

    @Test func aCallsDoneRecordAndTheCursorMoveInOneCommitAfterItFinishes() async throws {
        var (driver, directory) = try await Self.driver(try Self.settings(), rows: [(1, 0)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await driver.step()
        #expect(driver.running.map(\.job.events.first?.id) == [Self.id(0)])
        try await driver.commit()
        #expect(try await driver.store.cursor("route:r")?.commitLSN == 0, "the call runs: the cursor waits")
        try await driver.step()
        try await driver.commit()
        #expect(try await driver.store.cursor("route:r")?.commitLSN == 0x1000)
        #expect(try await driver.store.done(among: [DoneKey(eventID: Self.id(0), route: "r", agent: "scripted")], since: nil).count == 1)
    }

    @Test func aFilteredEventMovesTheCursorWithoutACall() async throws {
        var (driver, directory) = try await Self.driver(try Self.settings(condition: "after.id > 1"), rows: [(1, 0), (2, 0)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await driver.runToEnd())
        #expect(driver.effects == [[Self.id(1)]])
        #expect(driver.machine.counts.filtered == 1 && driver.machine.counts.matched == 1)
        #expect(try await driver.store.cursor("route:r")?.commitLSN == 0x1100)
    }

    @Test func aRetryWaitsForItsBackoffAndARowsLaterChangeWaitsForIt() async throws {
        // Row 7 changes twice; its first change fails once.
        var failed = false
        var (driver, directory) = try await Self.driver(try Self.settings(), rows: [(7, 0), (8, 0), (7, 0)]) { call in
            if call.events[0].id == Self.id(0) && call.attempt == 1 {
                failed = true
                return .failure(AgentError(code: .temporary, message: "not yet"))
            }
            return .success(output: nil)
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await driver.runToEnd())
        #expect(failed)
        let order = driver.effects.map { $0[0] }
        #expect(Set(order) == [Self.id(0), Self.id(1), Self.id(2)] && order.count == 3)
        #expect(order.firstIndex(of: Self.id(0))! < order.firstIndex(of: Self.id(2))!, "row 7's changes in commit order: \(order)")
        #expect(driver.machine.counts.retries == 1)
    }

    @Test func aPermanentFailureIsDeadLetteredOnce() async throws {
        var (driver, directory) = try await Self.driver(try Self.settings(), rows: [(1, 0), (2, 0)]) { call in
            call.events[0].id == Self.id(0) ? .failure(AgentError(code: .permanent, message: "bad row")) : .success(output: nil)
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await driver.runToEnd())
        let letters = try await driver.store.deadLetters(DeadLetterFilter(route: "r"))
        #expect(letters.map(\.eventID) == [Self.id(0)] && letters[0].errorClass == "permanent")
        #expect(driver.notices.contains { if case .deadLettered = $0 { true } else { false } })
    }

    @Test func theBreakerOpensAndItsEventsWaitRatherThanDeadLetter() async throws {
        var calls = 0
        var (driver, directory) = try await Self.driver(try Self.settings(concurrency: 1, attempts: 10), rows: (0..<8).map { ($0, 0) }) { _ in
            calls += 1
            return calls <= 5 ? .failure(AgentError(code: .temporary, message: "down")) : .success(output: nil)
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await driver.runToEnd())
        #expect(driver.notices.contains { if case .breakerOpened = $0 { true } else { false } })
        #expect(driver.notices.contains { if case .breakerClosed = $0 { true } else { false } })
        #expect(Set(driver.effects.map { $0[0] }).count == 8)
        #expect(try await driver.store.deadLetters(DeadLetterFilter(route: "r")).isEmpty)
    }

    @Test func aDebounceCallsEachKeysNewestEventOnce() async throws {
        var (driver, directory) = try await Self.driver(try Self.settings(debounce: .seconds(10)), rows: [(1, 1), (2, 2), (3, 1), (4, 1)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await driver.runToEnd())
        #expect(Set(driver.effects) == [[Self.id(1)], [Self.id(3)]])
        #expect(driver.machine.counts.superseded == 2)
    }

    @Test func aWindowCallsOnceWithItsEvents() async throws {
        var (driver, directory) = try await Self.driver(try Self.settings(window: 2), rows: [(1, 1), (2, 2), (3, 1), (4, 3)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await driver.runToEnd())
        #expect(driver.effects == [[Self.id(0), Self.id(2)]])
        #expect(try await driver.store.windowEntries(route: "r").map(\.eventID).sorted() == [Self.id(1), Self.id(3)])
    }

    /// What `event show` reads of flow control: the trace a route records for each step.
    @Test func tracesSayWhatFlowControlDid() async throws {
        // Throttled: one call a second; the second waits, traced once with when it may start.
        var throttled = try Self.settings()
        throttled.throttle = .init(limit: 1, period: .seconds(1), burst: 1)
        var (driver, directory) = try await Self.driver(throttled, rows: [(1, 1), (2, 2)])
        #expect(try await driver.runToEnd())
        var traces = try await driver.store.traces(of: [Self.id(0), Self.id(1)])
        let waits = traces.filter { $0.kind == .throttled }
        #expect(waits.map(\.events) == [[Self.id(1)]] && waits.allSatisfy { Int64($0.detail)! > $0.at }, "\(traces)")
        #expect(traces.filter { $0.kind == .attempts || $0.kind == .attempt }.flatMap(\.events).sorted() == [Self.id(0), Self.id(1)])
        try? FileManager.default.removeItem(atPath: directory)
        // Debounced: each superseded event names the one that replaced it.
        (driver, directory) = try await Self.driver(try Self.settings(debounce: .seconds(10)), rows: [(1, 1), (2, 1)])
        #expect(try await driver.runToEnd())
        traces = try await driver.store.traces(of: [Self.id(0)])
        #expect(traces.filter { $0.kind == .debounced }.map(\.detail) == [Self.id(1)], "\(traces)")
        try? FileManager.default.removeItem(atPath: directory)
        // Held: a schema pin the events' version is not among.
        var pinned = try Self.settings()
        pinned.schemaVersions = ["public.orders": [2]]
        (driver, directory) = try await Self.driver(pinned, rows: [(1, 1)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for _ in 0..<5 { try await driver.step() }
        try await driver.commit()
        traces = try await driver.store.traces(of: [Self.id(0)])
        #expect(traces.map(\.kind) == [.held] && traces.first?.detail == "1", "\(traces)")
    }

    @Test func theDirectLaneHandsOverPassesAndAFailedCallsRowWaitsInTheQueue() async throws {
        // Rows 1 and 2 change twice each: each repeat ends a pass. Row 1's first change fails once.
        var (driver, directory) = try await Self.driver(try Self.settings(), rows: [(1, 0), (2, 0), (1, 0), (2, 0)], answersAtOnce: true) { call in
            call.events[0].id == Self.id(0) && call.attempt == 1 ? .failure(AgentError(code: .temporary, message: "once")) : .success(output: nil)
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await driver.step(max: 4)
        // The first pass: row 1 failed, row 2 done. The lane then shut: row 1's second change
        // waits in the queue behind its first change's retry (whose jittered backoff may be
        // over at once, or not).
        #expect(driver.effects.first == [Self.id(1)])
        #expect(!driver.machine.directLaneOpen(now: driver.now) || driver.effects.count == 4)
        #expect(try await driver.runToEnd())
        let order = driver.effects.map { $0[0] }
        #expect(order.firstIndex(of: Self.id(0))! < order.firstIndex(of: Self.id(2))!, "\(order)")
        #expect(Set(order).count == 4 && order.count == 4)
    }

    @Test func routesThatShareACacheParseEachEventOnceAndDecideAsAlone() async throws {
        let rows = (0..<50).map { (id: $0, k: $0 % 3) }
        let odd = try Self.settings("odd", condition: "after.id % 2 == 1")
        let keyed = try Self.settings("keyed", key: "after.k", condition: "after.id > 10")
        var alone: [[[String]]] = []
        for settings in [odd, keyed] {
            var (driver, directory) = try await Self.driver(settings, rows: rows)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            #expect(try await driver.runToEnd())
            alone.append(driver.effects)
        }
        let cache = EventValuesCache(capacity: 64)
        var shared: [[[String]]] = []
        for settings in [odd, keyed] {
            var (driver, directory) = try await Self.driver(settings, rows: rows, sharedValues: cache)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            #expect(try await driver.runToEnd())
            shared.append(driver.effects)
            #expect(cache.count == 50 && cache.parses == 50, "each event parsed once, by the first route")
        }
        #expect(shared == alone)
        #expect(alone[0].count == 25 && alone[1].count == 39)
    }

    @Test func theCacheKeepsTheMostRecentEventsOnly() {
        let cache = EventValuesCache(capacity: 3)
        for i in 0..<5 {
            let values = cache.values(at: EventPosition(commitLSN: LSN(UInt64(i + 1)), ordinal: 0), envelope: Array(#"{"after":{"id":\#(i)}}"#.utf8))
            #expect(values == RouteValues.values(of: Array(#"{"after":{"id":\#(i)}}"#.utf8)))
        }
        #expect(cache.count == 3)
        // Not JSON: no values, as without the cache.
        #expect(cache.values(at: EventPosition(commitLSN: LSN(9), ordinal: 0), envelope: Array("x".utf8)).isEmpty)
    }
}
