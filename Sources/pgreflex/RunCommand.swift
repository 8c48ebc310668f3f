public import ArgumentParser
import Logging
import PGReflexAgents
import PGReflexCapture
import PGReflexConfig
import PGReflexDelivery
import PGReflexJournal
import PGReflexRuntime
import PGReflexState
import PGReflexStatus
public import PGReflexWire
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
                               doc: "docs/cli.md (pgreflex run), docs/delivery.md"))

    @Option(help: "The YAML configuration file.")
    var config: String

    @OptionGroup var range: StreamRangeOptions

    @Option(help: "Where a consumer without a cursor (a new one, or its cursor file deleted) starts, unless its start: says: earliest re-delivers every event the journal holds, latest starts at the journal's end, or an LSN.")
    var ifNoCheckpoint: StartPosition = .earliest

    @Option(help: "On SIGTERM, how many seconds the routes wait for their agents' calls in flight before they stop (what has not finished runs again at the next start).")
    var drainTimeout: Int = 20

    @Option(help: "Serve /metrics, /healthz, /readyz and the status page at HOST:PORT (or PORT, on 127.0.0.1), over the configuration's server: (a container gives 0.0.0.0:9187).")
    var server: String?

    @Flag(help: "Go on when the slot starts past the journal's end (a slot dropped and created again, or advanced by another tool): the changes in between were never captured. The gap is recorded in the journal; journal inspect and replay report it. Without it, run refuses to start and says how to resynchronize.")
    var acceptGap = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        _ = try server.map(Self.serverSettings)
    }

    static func serverSettings(_ text: String) throws -> ServerSettings {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let port = Int(parts.last ?? ""), (0...65535).contains(port) else {
            throw ValidationError("--server \(text): give HOST:PORT or PORT, with a port from 0 to 65535 (0 picks a free one)")
        }
        return ServerSettings(host: parts.count == 2 && !parts[0].isEmpty ? String(parts[0]) : "127.0.0.1", port: port)
    }

    func run() async throws {
        try await global.run {
            signal(SIGPIPE, SIG_IGN)
            let logger = Logger(label: "pgreflex.run")
            var configuration = try RunConfiguration.load(config)
            if let server {
                configuration.server = try Self.serverSettings(server)
                configuration.serverSetting = "--server"
            }
            let leftovers = StartLeftovers(configuration)
            let pipeline: RunPipeline
            do {
                pipeline = try await RunPipeline(configuration: configuration, range: range.streamRange, ifNoCheckpoint: ifNoCheckpoint,
                                                 drainTimeout: .seconds(drainTimeout), acceptGap: acceptGap, logger: logger)
            } catch let error as JournalError where error.code == .locked {
                throw error  // another run owns those files
            } catch {
                leftovers.removeAfterFailedStart()
                throw error
            }
            do {
                try await pipeline.run()
            } catch {
                if !pipeline.streamed { leftovers.removeAfterFailedStart() }
                throw error
            }
        }
    }
}
