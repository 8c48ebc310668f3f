public import Logging
public import PGReflexAgentContract
import PGReflexAgents
public import PGReflexCapture
public import PGReflexConfig
public import PGReflexDelivery
public import PGReflexJournal
import PGReflexPrivacy
import PGReflexRouter
public import PGReflexState
public import PGReflexStatus
import PGReflexTools
import PGReflexTransport
public import PGReflexWire

extension RunConfiguration {
    /// What capture needs, with a run's start and stop.
    public func captureOptions(startLSN: LSN? = nil, endLSN: LSN? = nil, idleExit: Duration? = nil) -> JournalCapture.Options {
        JournalCapture.Options(
            pipeline: .init(source: source, startLSN: startLSN, endLSN: endLSN, idleExit: idleExit, privacy: privacy,
                            schemaRegistry: schemaRegistry, schemaVersionPolicy: schemaVersionPolicy, command: "run"),
            journal: journal.options, fsyncMaxRecords: journal.fsyncMaxRecords, fsyncMaxDelay: journal.fsyncMaxDelay)
    }
}

extension RunConfiguration {
    /// Every configured agent that `wanted` names, acting through the configured tools (built
    /// once here, so agents that share a tool share its connection), its decisions kept in
    /// `decisions` (the state store) before they are carried out.
    /// Refuses, naming the setting, when a variable one of them needs is unset.
    public func makeAgents(_ wanted: Set<String>, decisions: (any DecisionLog)?, logger: Logger) throws -> [String: any Agent] {
        try requireEnvironment(for: environmentOwners(ofAgents: wanted), purpose: "calling agent \(wanted.sorted().joined(separator: ", "))")
        let tools = ToolSettings.makeTools(self.tools, defaultDSN: source.dsn, privacy: privacy, logger: logger)
        var made: [String: any Agent] = [:]
        for agent in agents where wanted.contains(agent.name) {
            made[agent.name] = try agent.makeAgent(logger: logger, tools: tools, keyring: privacy?.keyring, decisions: decisions)
        }
        return made
    }
}

extension RunConfiguration {
    /// One consumer per route, with the agents they call (one runtime, and one circuit breaker,
    /// per agent) and the state store. Routes that read events' values share one parse of each.
    public func routeConsumers(channel: JournalChannel, mode: RouteConsumer.Mode = .follow,
                               only: String? = nil, store: SQLiteStateStore? = nil, status: PipelineStatus = PipelineStatus(),
                               drainTimeout: Duration, logger: Logger) async throws -> [RouteConsumer] {
        let chosen = routes.filter { only == nil || $0.name == only }
        guard !chosen.isEmpty else { return [] }
        let store = try store ?? SQLiteStateStore(directory: stateDirectory)
        var runtimes: [String: AgentRuntime] = [:]
        let made = try makeAgents(Set(chosen.map(\.agent)), decisions: store, logger: logger)
        for agent in agents {
            guard let built = made[agent.name] else { continue }
            runtimes[agent.name] = AgentRuntime(agent: built, breakerFailures: agent.breakerFailures, breakerCoolDown: agent.breakerCoolDown)
        }
        let sharedValues = chosen.filter(\.readsValues).count > 1 ? EventValuesCache() : nil
        var consumers: [RouteConsumer] = []
        for route in chosen {
            consumers.append(try await RouteConsumer(settings: route, runtime: runtimes[route.agent]!, store: store,
                                                     journalDirectory: journal.directory, channel: channel, mode: mode,
                                                     drainTimeout: drainTimeout, status: status,
                                                     sharedValues: route.readsValues ? sharedValues : nil, logger: logger))
        }
        return consumers
    }
}
