public import Logging
import Metrics
import PGReflexCapture
public import PGReflexConfig
import PGReflexDelivery
import PGReflexJournal
import PGReflexMonitoring
import PGReflexState
public import PGReflexStatus
public import PGReflexWire
import Prometheus
public import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `run` assembled: capture and delivery meeting at the journal, the status reporter, and the
/// status server when `server:` is set, as services of one `ServiceGroup`. `demo` runs the
/// same thing.
public struct RunPipeline: Sendable {
    let capture: JournalCapture
    let consumers: [any DeliveryConsumer]
    public let status: PipelineStatus
    let reporter: StatusReporter
    /// The status page's change and route pages.
    let pages: ChangePages
    let server: ServerSettings?
    let registry: PrometheusCollectorRegistry?
    let logger: Logger

    /// Builds everything, so that a mistake fails before anything runs. `onServerBound` gets
    /// the status server's port.
    public init(configuration: RunConfiguration, range: StreamRange = StreamRange(), ifNoCheckpoint: StartPosition, drainTimeout: Duration,
                acceptGap: Bool = false, logger: Logger) async throws {
        self.logger = logger
        // The journal's writer lock first: a second `run` of one configuration is told so, not
        // that the status server's port is taken. Then the port, naming the address and setting.
        try Journal.checkUnlocked(directory: configuration.journal.directory)
        if let server = configuration.server {
            try StatusServer.checkAddress(server, setting: configuration.serverSetting)
        }
        server = configuration.server
        if configuration.server != nil {
            // Metrics cost only when someone can read them.
            let registry = PrometheusCollectorRegistry()
            var factory = DescribedMetricsFactory(registry: registry)
            factory.durationBuckets["pgreflex_commit_to_agent_seconds"] =
                [1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500, 5000, 10000].map { Duration.milliseconds($0) }
            MetricsSystem.bootstrap(factory)
            self.registry = registry
        } else {
            registry = nil
        }
        status = PipelineStatus(pid: getpid(), startedAt: PostgresTimestamp.now().unixMicroseconds, metricsEnabled: registry != nil)
        // Consumers first: each registers what it still needs before capture appends or
        // retention removes anything.
        let channel = JournalChannel(mark: .init())
        var consumers: [any DeliveryConsumer] = try configuration.consumers.map { settings in
            try JournalConsumer(settings: settings, journalDirectory: configuration.journal.directory, channel: channel,
                                schemaVersionPolicy: configuration.schemaVersionPolicy, registryDirectory: configuration.schemaRegistry,
                                defaultStart: ifNoCheckpoint, logger: logger)
        }
        // Routes keep their cursors there, and snapshots their progress.
        let store = try SQLiteStateStore(directory: configuration.stateDirectory)
        consumers += try await configuration.routeConsumers(channel: channel, store: store, status: status,
                                                         drainTimeout: drainTimeout, logger: logger)
        self.consumers = consumers
        var captureOptions = configuration.captureOptions(startLSN: range.startLSN, endLSN: range.endLSN, idleExit: range.idleExit)
        captureOptions.acceptGap = acceptGap
        captureOptions.pipeline.snapshots = SnapshotOptions(mode: configuration.snapshotMode, chunkSize: configuration.snapshotChunkSize,
                                                            store: store)
        capture = JournalCapture(options: captureOptions, channel: channel, status: status, logger: logger)
        pages = configuration.changePages(store: store)
        reporter = StatusReporter(status: status, channel: channel, journalDirectory: configuration.journal.directory,
                                  stateDirectory: configuration.stateDirectory, store: store, logger: logger)
    }

    /// Runs until capture and delivery end, or SIGTERM/SIGINT. Either ending ends both,
    /// gracefully. Services stop in reverse order: capture first (it confirms what is durable),
    /// then delivery, which stops after the batch in hand, or, when capture ended by itself
    /// (end LSN, idleness), once it has delivered everything; the endpoints and the status
    /// file last, so they report the stop.
    public func run(extra: [any Service] = [], onServerBound: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let captureService = CaptureService(run: capture)
        let delivery = DeliveryService(consumers: consumers)
        func ending(_ service: any Service) -> ServiceGroupConfiguration.ServiceConfiguration {
            .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: reporter, successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if let server, let registry {
            services.append(.init(service: StatusServer.application(settings: server, status: status, registry: registry, pages: pages,
                                                                   logger: logger, onBound: onServerBound),
                                  successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        services += extra.map(ending)
        services += [ending(delivery), ending(captureService)]
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Whether capture ever got as far as streaming.
    public var streamed: Bool {
        var started = false
        status.updateCapture { started = $0.state != .starting }
        return started
    }
}
