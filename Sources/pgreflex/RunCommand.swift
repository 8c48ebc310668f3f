public import ArgumentParser
import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexJournal
public import PGReflexDelivery
import PGReflexState
import ServiceLifecycle
import UnixSignals

extension StartPosition: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(parsing: argument)
    }
}

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Stream changes into the durable journal and deliver them to every configured consumer.",
        discussion: discussion(example: "PGREFLEX_DSN=\"host=/tmp dbname=app user=app\" pgreflex run --config run.yaml",
                               doc: "README.md (pgreflex run), docs/delivery.md"))

    @Option(help: "The YAML configuration file.")
    var config: String

    @OptionGroup var range: StreamRangeOptions

    @Option(help: "Where a consumer without a cursor (a new one, or its cursor file deleted) starts, unless its start: says: earliest re-delivers every event the journal holds, latest starts at the journal's end, or an LSN.")
    var ifNoCheckpoint: StartPosition = .earliest

    @Option(help: "On SIGTERM, how many seconds the routes wait for their agents' calls in flight before they stop (what has not finished runs again at the next start).")
    var drainTimeout: Int = 20

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        global.bootstrapLogging()
        signal(SIGPIPE, SIG_IGN)
        let logger = Logger(label: "pgreflex.run")
        let capture: JournalCapture
        var consumers: [any DeliveryConsumer]
        do {
            let configuration = try RunConfiguration.load(config)
            // Consumers first: each registers what it still needs before capture appends or
            // retention removes anything.
            let channel = JournalChannel(mark: .init())
            consumers = try configuration.consumers.map { settings in
                try JournalConsumer(settings: settings, journalDirectory: configuration.journal.directory, channel: channel,
                                    schemaVersionPolicy: configuration.schemaVersionPolicy, registryDirectory: configuration.schemaRegistry,
                                    defaultStart: ifNoCheckpoint, logger: logger)
            }
            consumers += try await Self.routeConsumers(configuration, channel: channel, drainTimeout: .seconds(drainTimeout), logger: logger)
            capture = JournalCapture(options: configuration.captureOptions(startLSN: range.startLSN, endLSN: range.endLSN,
                                                                           idleExit: range.idleDuration),
                                     channel: channel, logger: logger)
        } catch {
            throw fail(error)
        }
        // Either ending ends both, gracefully. Services stop in reverse order: capture first
        // (it confirms what is durable), then delivery, which stops after the batch in hand, or,
        // when capture ended by itself (end LSN, idleness), once it has delivered everything.
        let captureService = CaptureService(run: capture)
        let delivery = DeliveryService(consumers: consumers)
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: delivery, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: captureService, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            throw fail(error)
        }
        if case .failure(let error) = captureService.result { throw fail(error) }
    }

    /// One consumer per route, with the agents they call (one runtime, and one circuit breaker,
    /// per agent) and the state store.
    static func routeConsumers(_ configuration: RunConfiguration, channel: JournalChannel, mode: RouteConsumer.Mode = .follow,
                               only: String? = nil, drainTimeout: Duration, logger: Logger) async throws -> [RouteConsumer] {
        let routes = configuration.routes.filter { only == nil || $0.name == only }
        guard !routes.isEmpty else { return [] }
        let store = try SQLiteStateStore(directory: configuration.stateDirectory)
        var runtimes: [String: AgentRuntime] = [:]
        let made = try configuration.makeAgents(Set(routes.map(\.agent)), logger: logger)
        for agent in configuration.agents {
            guard let built = made[agent.name] else { continue }
            runtimes[agent.name] = AgentRuntime(agent: built, breakerFailures: agent.breakerFailures, breakerCoolDown: agent.breakerCoolDown)
        }
        var consumers: [RouteConsumer] = []
        for route in routes {
            consumers.append(try await RouteConsumer(settings: route, runtime: runtimes[route.agent]!, store: store,
                                                     journalDirectory: configuration.journal.directory, channel: channel, mode: mode,
                                                     drainTimeout: drainTimeout, logger: logger))
        }
        return consumers
    }
}
