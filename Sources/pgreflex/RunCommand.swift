public import ArgumentParser
import Logging
public import PGReflexCore

extension StartPosition: ExpressibleByArgument {}

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Stream changes into the durable journal and deliver them to the configured sink.",
        discussion: discussion(example: "PGREFLEX_DSN=\"host=/tmp dbname=app user=app\" pgreflex run --config run.yaml",
                               doc: "README.md (pgreflex run), docs/delivery.md"))

    @Option(help: "The YAML configuration file.")
    var config: String

    @OptionGroup var range: StreamRangeOptions

    @Option(help: "Where the sink starts when it has no checkpoint (a new sink, or its checkpoint.json deleted): earliest re-delivers every event the journal holds, latest starts at the journal's end.")
    var ifNoCheckpoint: StartPosition = .earliest

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        global.bootstrapLogging()
        signal(SIGPIPE, SIG_IGN)
        let logger = Logger(label: "pgreflex.run")
        let configuration: RunConfiguration
        do {
            configuration = try RunConfiguration.load(config)
        } catch {
            throw fail(error)
        }
        let pipeline = RunPipeline(configuration: configuration, startLSN: range.startLSN, endLSN: range.endLSN,
                                   idleExit: range.idleDuration, ifNoCheckpoint: ifNoCheckpoint, logger: logger)
        try await runUntilDone(PipelineService(run: pipeline), logger: logger)
    }
}
