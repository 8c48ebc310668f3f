import ArgumentParser
import Logging
import PGReflexCore
import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Stream changes into the durable journal and deliver them to the configured sink.")

    @Option(help: "The YAML configuration file.")
    var config: String

    @Option(help: "Start at this LSN (X/Y) if the slot still has it.")
    var startLSN: LSN?

    @Option(help: "Stop once everything committed before this LSN (X/Y) is journaled and delivered.")
    var endLSN: LSN?

    @Option(help: "Stop after this many seconds without changes.")
    var idleExit: Double?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if endLSN != nil && idleExit != nil {
            throw ValidationError("--end-lsn and --idle-exit are exclusive: pick one way to stop")
        }
    }

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
        let pipeline = RunPipeline(configuration: configuration, startLSN: startLSN, endLSN: endLSN,
                                   idleExit: idleExit.map { .milliseconds(Int64($0 * 1000)) }, logger: logger)
        try await runUntilDone(PipelineService(run: pipeline), logger: logger)
    }
}
