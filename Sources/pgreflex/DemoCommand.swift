import ArgumentParser
import Foundation
import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexDelivery
import PGReflexLocalPostgres
import PGReflexRouter
import PGReflexRuntime
import PGReflexStatus
import PGReflexTransport
import PGReflexWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the seeds' workflows on a throwaway local PostgreSQL: fraud checks, ticket classification, reorders and the three-orders breach, under generated traffic.",
        discussion: discussion("""
            Starts PostgreSQL from this machine's binaries (initdb, pg_ctl; wal_level=logical, a free port, a socket in a \
            temp dir), creates the demo's tables, runs examples/agents.yaml (rule-based exec agents; with --llm-url, \
            examples/agents-llm.yaml's model-driven agents) with the status server on, offers traffic at --rate changes per \
            second for --duration seconds, then prints what happened and removes everything it started (on Ctrl-C too).
            """, example: "swift run pgreflex demo --duration 20 --rate 100", doc: "docs/operations.md"))

    @Option(help: "Seconds of generated traffic.")
    var duration: Int = 30

    @Option(help: "Changes per second offered to the database.")
    var rate: Int = 50

    @Flag(help: "Leave the database running at the end, and print how to connect and how to stop it.")
    var keep = false

    @Option(help: "An OpenAI-compatible endpoint (…/v1): the fraud review and triage become model-driven (examples/agents-llm.yaml). PGREFLEX_LLM_URL sets it too.")
    var llmURL: String?

    @Option(help: "A directory laid out as pgreflex's examples/, for a demo of your own (default: the demo the binary carries).")
    var examples: String?

    @Option(help: "The status server's port (/, /metrics, /readyz); 0 picks a free one.")
    var port: Int = 0

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard duration > 0 else { throw ValidationError("--duration takes a positive number of seconds") }
        guard rate > 0 && rate <= 100_000 else { throw ValidationError("--rate takes 1 to 100000 changes per second") }
        guard (0...65535).contains(port) else { throw ValidationError("--port takes 0 to 65535") }
    }

    func run() async throws {
        let interactive = isatty(1) == 1
        // A progress line and log lines would garble each other on a terminal: warnings only there.
        var logging = global
        if interactive && logging.logLevel == .info { logging.logLevel = .warning }
        logging.bootstrapLogging()
        signal(SIGPIPE, SIG_IGN)
        let logger = Logger(label: "pgreflex.demo")
        let llmURL = self.llmURL ?? ProcessInfo.processInfo.environment["PGREFLEX_LLM_URL"]
        let examples: String?
        do {
            examples = try Self.examplesDirectory(self.examples, llm: llmURL != nil)
        } catch {
            throw fail(error)
        }
        // Ctrl-C while the database starts: noted, acted on once it is up (then it is removed).
        Self.interrupted.store(false, ordering: .relaxed)
        signal(SIGINT) { _ in DemoCommand.interrupted.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in DemoCommand.interrupted.store(true, ordering: .relaxed) }
        say("starting a throwaway PostgreSQL …")
        let cluster: LocalPostgres
        do {
            cluster = try await LocalPostgres.start()
        } catch {
            throw fail(error)
        }
        var outcome: Result<DemoSummary?, any Error> = .success(nil)
        do {
            outcome = .success(try await runDemo(on: cluster, examples: examples, llmURL: llmURL, interactive: interactive, logger: logger))
        } catch {
            outcome = .failure(error)
        }
        if keep {
            say("""
                the database is still running (--keep):
                  psql "\(cluster.conninfo)"
                  stop and remove it: \(cluster.stopCommand)
                """)
        } else {
            await cluster.destroy()
        }
        switch outcome {
        case .success(let summary?): print(summary.text)
        case .success(nil): break
        case .failure(let error): throw fail(error)
        }
    }

    static let interrupted = Atomic<Bool>(false)

    func runDemo(on cluster: LocalPostgres, examples: String?, llmURL: String?, interactive: Bool, logger: Logger) async throws -> DemoSummary? {
        say("PostgreSQL is up: \(cluster.conninfo)")
        // One session sets the database up and counts the results at the end; it is closed then.
        return try await PostgresConnection.withConnection(cluster.conninfo, mode: .sql, logger: logger) { session in
            try await runDemo(on: cluster, session: session, examples: examples, llmURL: llmURL, interactive: interactive, logger: logger)
        }
    }

    private func runDemo(on cluster: LocalPostgres, session: PostgresConnection, examples: String?, llmURL: String?, interactive: Bool,
                         logger: Logger) async throws -> DemoSummary? {
        let work = cluster.directory + "/pgreflex"
        let configFile = try Self.prepare(examples: examples, into: work, llm: llmURL != nil)
        try await session.execute(try String(contentsOfFile: work + "/demo.sql", encoding: .utf8))
        try await session.execute(try String(contentsOfFile: work + "/agents.sql", encoding: .utf8))
        try await session.execute(DemoTraffic.seedSQL)
        var environment = ProcessInfo.processInfo.environment
        environment["PGREFLEX_DSN"] = cluster.conninfo
        if let llmURL { environment["PGREFLEX_LLM_URL"] = llmURL }
        var configuration = try RunConfiguration.load(configFile, environment: environment)
        _ = try await session.query("SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')", parameters: [configuration.source.slot])
        guard !Self.interrupted.load(ordering: .relaxed) else { return nil }

        // With a model: sized to it, so that its calls finish (DemoModelSizing).
        var sizing: DemoModelSizing?
        if llmURL != nil {
            say("timing the model: one call per LLM agent, then two at once")
            sizing = try await DemoModelSizing.measure(configuration, askedRate: rate, logger: logger)
            sizing?.apply(to: &configuration)
            if let sizing { say(sizing.summaryLine) }
        }
        guard !Self.interrupted.load(ordering: .relaxed) else { return nil }
        configuration.server = ServerSettings(port: port)
        // The breach window is ten minutes in the examples; the demo has seconds.
        for index in configuration.routes.indices where configuration.routes[index].window != nil {
            configuration.routes[index].window!.period = .seconds(15)
        }
        let pipeline = try await RunPipeline(configuration: configuration, ifNoCheckpoint: .earliest,
                                             drainTimeout: .seconds(10), logger: logger)
        let traffic = DemoTraffic(conninfo: cluster.conninfo, rate: sizing?.rate ?? rate, duration: .seconds(duration),
                                  burstEvery: sizing?.burstEvery ?? .seconds(10), callBudget: sizing?.callBudget, status: pipeline.status,
                                  interactive: interactive, logger: logger)
        let port = Mutex<Int?>(nil)
        try await pipeline.run(extra: [traffic]) { bound in
            port.withLock { $0 = bound }
            say("status page: http://127.0.0.1:\(bound)/   metrics: http://127.0.0.1:\(bound)/metrics")
        }
        return try await DemoSummary.collect(status: pipeline.status, traffic: traffic, session: session, configuration: configuration,
                                             sizing: sizing)
    }

    /// `--examples` (a custom demo), else nil: the files the binary carries.
    static func examplesDirectory(_ given: String?, llm: Bool) throws -> String? {
        guard let given else { return nil }
        let needed = ["demo.sql", "agents.sql", llm ? "agents-llm.yaml" : "agents.yaml", "agents"]
        guard needed.allSatisfy({ FileManager.default.fileExists(atPath: given + "/" + $0) }) else {
            throw ValidationError("""
                --examples \(given) does not hold the demo's files (\(needed.joined(separator: ", "))): pass a directory laid out \
                as pgreflex's examples/, or leave --examples out for the demo the binary carries
                """)
        }
        return (given as NSString).standardizingPath
    }

    /// The demo's files as the binary carries them (examples/ at build time), by path.
    static let carried: [(path: String, bytes: [UInt8])] = [
        ("demo.sql", PackageResources.demo_sql), ("agents.sql", PackageResources.agents_sql),
        ("agents.yaml", PackageResources.agents_yaml), ("agents-llm.yaml", PackageResources.agents_llm_yaml),
        ("agents/breach.py", PackageResources.breach_py), ("agents/classify_ticket.py", PackageResources.classify_ticket_py),
        ("agents/fraud_check.py", PackageResources.fraud_check_py), ("agents/reorder.py", PackageResources.reorder_py),
        ("agents/risk.py", PackageResources.risk_py),
    ]

    /// Writes the carried files into `directory`, the agents executable, for a demo run there.
    static func writeCarried(into directory: String) throws {
        for (path, bytes) in carried {
            let file = directory + "/" + path
            try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: file, contents: Data(bytes), attributes: [.posixPermissions: path.hasSuffix(".py") ? 0o755 : 0o644]) else {
                throw ValidationError("cannot write the demo's \(path) into \(directory)")
            }
        }
    }

    /// The demo's configuration, SQL and agents in the demo's directory (the journal and state
    /// land beside them, and go with the database): the carried ones, or those of `--examples`.
    static func prepare(examples: String?, into work: String, llm: Bool) throws -> String {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let name = llm ? "agents-llm.yaml" : "agents.yaml"
        if let examples {
            for item in ["agents", name, "demo.sql", "agents.sql"] {
                try FileManager.default.copyItem(atPath: examples + "/" + item, toPath: work + "/" + item)
            }
        } else {
            try writeCarried(into: work)
        }
        return work + "/" + name
    }
}

/// The demo's own lines: on stderr, so stdout holds only the summary.
func say(_ text: String) {
    var standardError = StandardError()
    print("demo: " + text.replacingOccurrences(of: "\n", with: "\ndemo: "), to: &standardError)
}
