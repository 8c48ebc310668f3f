import PGReflexAgentContract
import PGReflexConfig
import PGReflexDelivery
import Testing

/// A route's flow control in a trace, on the events' commit times: the steps `trace record`
/// writes beside each event, and the calls it makes.
struct RouteFlowSimulationTests {
    func simulate(_ flow: String, events: [(id: String, sku: String, second: Int64)]) throws -> (steps: [String], calls: [[String]]) {
        let configuration = try RunConfiguration.parse("""
            source: { dsn: x, slot: s, publication: p }
            journal: { directory: ./j }
            agents: { a: { noop: {} } }
            routes: { r: { tables: [public.stock], agent: a, \(flow) } }
            """, file: "run.yaml")
        let route = try #require(configuration.routes.first)
        var simulation = RouteFlowSimulation(settings: route, agentName: "a", start: 0)
        var calls: [RouteFlowSimulation.Call] = []
        for event in events {
            let envelope = #"{"op":"u","after":{"sku":"\#(event.sku)"},"source":{"schema":"public","table":"stock"}}"#
            calls += simulation.add(AgentEvent(id: event.id, table: "public.stock", op: "u", envelope: Array(envelope.utf8), commitTime: event.second * 1_000_000))
        }
        calls += simulation.finish()
        return (events.map { simulation.steps[$0.id]?.description ?? "none" }, calls.map { $0.call.events.map(\.id) })
    }

    @Test func aDebounceCallsOnceWithTheLastEventOfItsKey() throws {
        let (steps, calls) = try simulate("debounce: { period: 30s, key: event.after.sku }",
                                          events: [("e1", "A", 0), ("e2", "A", 10), ("e3", "B", 11), ("e4", "A", 20), ("e5", "A", 100)])
        #expect(steps == ["debounced into e2", "debounced into e4", "called", "called", "called"])
        #expect(calls == [["e3"], ["e4"], ["e5"]] || calls == [["e4"], ["e3"], ["e5"]])
    }

    @Test func aWindowFiresWithItsEventsAndTheOthersWait() throws {
        let (steps, calls) = try simulate("window: { count: 2, period: 1m, key: event.after.sku }",
                                          events: [("e1", "A", 0), ("e2", "B", 1), ("e3", "A", 2)])
        #expect(steps == ["called with 2 events, at e3", "waiting in window B", "called with 2 events, at e3"])
        #expect(calls == [["e1", "e3"]])
    }

    @Test func aRateLimitSkipsWhatIsOverIt() throws {
        let (steps, calls) = try simulate("rate_limit: { limit: 1, period: 1m }", events: [("e1", "A", 0), ("e2", "B", 1), ("e3", "C", 61)])
        #expect(steps == ["called", "skipped: rate_limit", "called"])
        #expect(calls == [["e1"], ["e3"]])
    }
}
