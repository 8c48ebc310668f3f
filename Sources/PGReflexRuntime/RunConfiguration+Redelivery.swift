public import Logging
public import PGReflexAgentContract
public import PGReflexConfig
public import PGReflexDelivery
import PGReflexJournal
import PGReflexRouter
public import PGReflexState
public import PGReflexWire

/// Running events again on purpose: a range of the journal through one route, or dead letters
/// through their routes' agents.
extension RunConfiguration {
    /// `replay --route`: the range [from, to] through the route, as `run` would deliver it; the
    /// route's cursor does not move. `force` runs events recorded as done again; `redecide` asks
    /// acting agents again rather than carrying out their recorded decisions.
    public func replay(route: String, from: LSN, to: LSN?, force: Bool, redecide: Bool = false, logger: Logger) async throws -> RouteCounts {
        guard routes.contains(where: { $0.name == route }) else {
            throw RedeliveryError(message: "--route \(route): no such route; the routes are \(routes.map(\.name).joined(separator: ", "))")
        }
        let journal = try Journal(options: .init(directory: self.journal.directory, readOnly: true), logger: logger)
        let channel = JournalChannel(mark: journal.durableMark)
        channel.finish()
        let consumers = try await routeConsumers(channel: channel, mode: .replay(from: from, to: to, force: force, redecide: redecide), only: route,
                                                 drainTimeout: .seconds(30), logger: logger)
        try await consumers[0].run()
        return await consumers[0].counts
    }

    /// `dlq retry`: each letter once, now, through its route's agent with the idempotency key of
    /// its first attempts (``RouteConsumer/retry(_:settings:agent:store:)``); those that succeed
    /// leave the queue. `file` names the configuration in messages.
    public func retry(_ letters: [DeadLetter], store: any StateStore, file: String, redecide: Bool = false,
                      logger: Logger) async throws -> [(letter: DeadLetter, outcome: AgentOutcome)] {
        for letter in letters where !routes.contains(where: { $0.name == letter.route }) {
            throw RedeliveryError(message: "dead letter \(letter.id ?? 0) is of route \(letter.route), which \(file) no longer has: restore the route, or drop the letter (dlq drop --id \(letter.id ?? 0) --yes)")
        }
        let agents = try makeAgents(Set(letters.compactMap { letter in routes.first { $0.name == letter.route }?.agent }),
                                    decisions: store as? any DecisionLog, logger: logger)
        var outcomes: [(letter: DeadLetter, outcome: AgentOutcome)] = []
        for letter in letters {
            let route = routes.first { $0.name == letter.route }!
            guard let agent = agents[route.agent] else { continue }
            outcomes.append((letter, try await RouteConsumer.retry(letter, settings: route, agent: agent, store: store, redecide: redecide)))
        }
        return outcomes
    }
}

/// A redelivery that cannot start: what is wrong and what to do. Never retryable.
public struct RedeliveryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var isRetryable: Bool { false }
    public var description: String { message }
}
