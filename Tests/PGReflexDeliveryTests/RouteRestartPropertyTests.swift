import Foundation
import PGReflexAgentContract
@testable import PGReflexDelivery
import PGReflexRouter
import PGReflexState
import PGReflexTestSupport
import Testing

/// What must survive a restart (open and fired windows, debounced keys, dead letters, done
/// records, a row's retries) gives the same outcome when the route is killed at random points
/// as when it runs through: the same calls take effect, the same events are done, dead-lettered
/// once, or kept in a window. Calls in flight at a kill may take effect twice (at least once).
@Suite struct RouteRestartPropertyTests {
    enum Kind: String, CaseIterable, CustomStringConvertible {
        case keyed, window, debounce, directLane
        var description: String { rawValue }
    }

    struct Outcome: Equatable {
        var effects: Set<[String]>
        var done: Set<String>
        var deadLetters: [String]
        var windows: [String]
    }

    static func settings(_ kind: Kind) throws -> RouteSettings {
        switch kind {
        case .keyed: try RouteStateMachineTests.settings(key: "after.k", concurrency: 2)
        case .window: try RouteStateMachineTests.settings(window: 3)
        case .debounce: try RouteStateMachineTests.settings(debounce: .seconds(10))
        case .directLane: try RouteStateMachineTests.settings()
        }
    }

    /// Rows whose id is 3 modulo 7 are refused for good (dead-lettered); 1 modulo 5 fail their
    /// first attempt.
    static func outcome(rows: [(id: Int, k: Int)]) -> (AgentCall) -> AgentOutcome {
        var ids: [String: Int] = [:]
        for (i, row) in rows.enumerated() { ids[RouteStateMachineTests.id(i)] = row.id }
        return { call in
            let id = ids[call.events[0].id] ?? 0
            if id % 7 == 3 { return .failure(AgentError(code: .permanent, message: "refused")) }
            if id % 5 == 1 && call.attempt == 1 { return .failure(AgentError(code: .temporary, message: "once")) }
            return .success(output: nil)
        }
    }

    /// Runs the route over `rows`; with `crashes`, kills it at random steps (a call in flight
    /// took effect or not, at random) and starts it again from its store.
    func run(_ kind: Kind, rows: [(id: Int, k: Int)], crashes random: SplitMix64?) async throws -> (Outcome, restarts: Int) {
        var (driver, directory) = try await RouteStateMachineTests.driver(try Self.settings(kind), rows: rows, answersAtOnce: kind == .directLane,
                                                                          outcome: Self.outcome(rows: rows))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        driver.random = random.map { var copy = $0; return SplitMix64(seed: copy.next()) }
        var random = random
        let finished = try await driver.runToEnd(steps: 20_000) { driver in
            guard random != nil, driver.restarts < 15, Int.random(in: 0..<12, using: &random!) == 0 else { return }
            let tookEffect = (0..<driver.running.count).map { _ in Bool.random(using: &random!) }
            var index = 0
            try await driver.crash { _ in
                defer { index += 1 }
                return tookEffect[index]
            }
        }
        #expect(finished, "the route finished")
        let ids = rows.indices.map(RouteStateMachineTests.id)
        let done = try await driver.store.done(among: ids.map { DoneKey(eventID: $0, route: "r", agent: "scripted") }, since: nil)
        let letters = try await driver.store.deadLetters(DeadLetterFilter(route: "r"))
        let windows = try await driver.store.windowEntries(route: "r")
        return (Outcome(effects: Set(driver.effects), done: Set(done.map(\.eventID)), deadLetters: letters.map(\.eventID).sorted(),
                        windows: windows.map(\.eventID).sorted()), driver.restarts)
    }

    @Test(arguments: Kind.allCases) func killedAtRandomPointsAsIfItRanThrough(kind: Kind) async throws {
        let seed = SplitMix64.testSeed()
        var random = SplitMix64(seed: seed)
        var restarts = 0
        for round in 0..<Stress.size(small: 20, full: 200) {
            let rows = (0..<Int.random(in: 10...40, using: &random)).map { _ in
                (id: Int.random(in: 0..<12, using: &random), k: Int.random(in: 0..<3, using: &random))
            }
            let (reference, _) = try await run(kind, rows: rows, crashes: nil)
            let (killed, count) = try await run(kind, rows: rows, crashes: SplitMix64(seed: random.next()))
            restarts += count
            #expect(killed == reference, "seed \(seed) (PGREFLEX_TEST_SEED replays it), round \(round), \(count) restarts, rows \(rows)")
        }
        #expect(restarts > 0, "seed \(seed): the route was killed")
    }
}
