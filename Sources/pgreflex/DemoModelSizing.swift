import ArgumentParser
import Foundation
import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexConfig
import PGReflexRouter
import PGReflexTools
import PGReflexTransport

/// `demo --llm-url`: the demo sized to the model. A 135M-parameter model on two cores answers
/// one call at a time in about a second; offered 50 changes a second, the LLM routes got six
/// calls a second, and most timed out or were abandoned at the end. So before the traffic
/// starts, each LLM agent answers one call (its real prompt, on a made-up row, with no action
/// carried out), and two calls at once of the quickest show whether the server answers in parallel. From those:
/// the LLM routes' concurrency, the traffic's rate and how often the three-order burst comes,
/// so that the model is busy about half the time, and how long the demo waits at the end for
/// the calls still running, so that every call finishes.
///
/// A made-up row is an easy call: real ones (an order with the customer's history, a small
/// model using every step it has) took up to ten times as long here. So the budget per call is
/// ten times the slowest measured call (at most the routes' timeout), and the model's share is
/// planned on three times it.
struct DemoModelSizing {
    /// One call's seconds, by agent.
    var callSeconds: [(agent: String, seconds: Double)]
    /// Two calls at once, of the quickest agent.
    var pairSeconds: Double
    var pairAgent: String
    var concurrency: Int
    var rate: Int
    var askedRate: Int
    var burstEvery: Duration
    /// What one call may take: the end waits this long for each call still running or queued.
    var callBudget: Duration

    /// LLM calls per change the demo's traffic makes: 40 % are orders, of which about 9 % are
    /// large or first orders (fraud review); 8 % are tickets (triage).
    static let callsPerChange = 0.4 * 0.088 + 0.08
    /// The share of the model's time the demo aims to use: queues stay short, and the wait at
    /// the end (60 s) covers what is left.
    static let utilization = 0.5

    /// Times the LLM agents the routes call; nil when there are none. Throws, naming the URL,
    /// when the model does not answer.
    static func measure(_ configuration: RunConfiguration, askedRate: Int, logger: Logger) async throws -> DemoModelSizing? {
        let agents = configuration.agents.compactMap { agent -> (String, LLMAgent.Settings, table: String)? in
            guard case .llm(let settings) = agent.kind,
                  let route = configuration.routes.first(where: { $0.agent == agent.name }) else { return nil }
            return (agent.name, settings, route.route.tables.first?.description ?? "public.orders")
        }
        guard !agents.isEmpty else { return nil }
        let tools = ToolSettings.makeTools(configuration.tools, defaultDSN: configuration.source.dsn, privacy: configuration.privacy, logger: logger)
        var timed: [(agent: String, seconds: Double, made: LLMAgent, table: String)] = []
        for (name, settings, table) in agents {
            // The bare model agent: it decides, and nothing it decides is carried out.
            let agent = try LLMAgent(name: name, settings: settings, tools: tools, logger: logger)
            timed.append((name, try await time(agent, table: table), agent, table))
        }
        let slowest = timed.max { $0.seconds < $1.seconds }!
        // No attempt outlasts its route's timeout: the end never waits longer than that per call.
        let llm = Set(timed.map(\.agent))
        let routeTimeout = configuration.routes.filter { llm.contains($0.agent) }.map(\.timeout).max() ?? .seconds(120)
        // Two calls of the quickest agent at once (the same prompt, so the same work each).
        let quickest = timed.min { $0.seconds < $1.seconds }!
        let clock = ContinuousClock()
        let start = clock.now
        async let first = time(quickest.made, table: quickest.table)
        async let second = time(quickest.made, table: quickest.table)
        _ = try await (first, second)
        let pair = seconds(start.duration(to: clock.now))
        // Two at once in little more than one: the server answers in parallel. Otherwise calls
        // in parallel only queue in the server, their timeouts running: one at a time.
        let concurrency = pair < quickest.seconds * 1.25 ? 4 : 1
        let target = utilization * Double(concurrency) / max(3 * slowest.seconds, 0.05)
        // A third of the model's share for the bursts (three calls each), the rest for the traffic.
        let burstEvery = Duration.seconds(max(10, Int((9 / target).rounded(.up))))
        let rate = min(askedRate, max(1, Int((2 * target / 3 / callsPerChange).rounded(.down))))
        return DemoModelSizing(callSeconds: timed.map { ($0.agent, $0.seconds) }, pairSeconds: pair, pairAgent: quickest.agent, concurrency: concurrency, rate: rate,
                               askedRate: askedRate, burstEvery: burstEvery,
                               callBudget: min(.milliseconds(max(10_000, Int((10 * slowest.seconds * 1000).rounded(.up)))), routeTimeout))
    }

    /// One call on a made-up row of `table`, in seconds.
    static func time(_ agent: LLMAgent, table: String) async throws -> Double {
        let after = table.hasSuffix("support_tickets")
            ? #"{"id":0,"order_id":0,"priority":3,"subject":"Package is late","tags":null}"#
            : #"{"id":0,"customer_id":1,"total_amount":"812.00","status":"new","is_first_order":false}"#
        let parts = table.split(separator: ".")
        let envelope = #"{"before":null,"after":\#(after),"source":{"schema":"\#(parts.first ?? "public")","table":"\#(parts.last ?? "orders")"},"op":"c","id":"0000000000000000-00000000"}"#
        let call = AgentCall(route: "demo_sizing", events: [AgentEvent(id: "0000000000000000-00000000", table: table, op: "c", envelope: Array(envelope.utf8))],
                             agent: agent.name, idempotencyValue: "demo-sizing")
        let clock = ContinuousClock()
        let start = clock.now
        // A weak model's answer may not be a valid decision, and a busy one may take longer than
        // the agent's timeout: it answered (or is slow) all the same. Only a server that is not
        // there, or fails, stops the demo.
        if case .failure(let error) = await agent.handle(call), error.isRetryable && error.code != .timeout {
            throw ValidationError("the model did not answer the demo's first call (\(error.code.rawValue): \(error.message)): check --llm-url and that the server is up")
        }
        return seconds(start.duration(to: clock.now))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Applies the choice: the LLM routes' concurrency.
    func apply(to configuration: inout RunConfiguration) {
        let llm = Set(callSeconds.map(\.agent))
        for index in configuration.routes.indices where llm.contains(configuration.routes[index].agent) {
            configuration.routes[index].concurrency.limit = concurrency
        }
    }

    /// What the summary says it chose, and why.
    var summaryLine: String {
        let calls = callSeconds.map { "\($0.agent) \(String(format: "%.2f", $0.seconds)) s" }.joined(separator: ", ")
        return "sized to the model: one call took \(calls), two of \(pairAgent) at once \(String(format: "%.2f", pairSeconds)) s; "
            + "LLM routes' concurrency \(concurrency), traffic \(rate) changes/s" + (rate < askedRate ? " (asked \(askedRate))" : "")
            + ", three large orders every \(burstEvery.components.seconds) s, up to \(callBudget.components.seconds) s a call at the end"
    }
}
