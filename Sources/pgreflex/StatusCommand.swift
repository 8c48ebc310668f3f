import ArgumentParser
import Foundation
import Logging
import PGReflexConfig
import PGReflexMonitoring
import PGReflexSnapshot
import PGReflexStatus
import PGReflexTransport
import PGReflexWire

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print, at a glance, what pgreflex run is doing: the slot, capture lag, each consumer's cursor and lag, routes, calls in flight, dead letters and circuit breakers.",
        discussion: discussion("""
            Reads the status file `run` writes each second (state.directory/status.json), the state store and the journal's \
            cursors, and asks the database about the slot when it can. It runs beside `pgreflex run` and changes nothing.
            """, example: "pgreflex status --config run.yaml --format json", doc: "docs/operations.md"))

    @Option(help: "The YAML configuration file.")
    var config: String

    @Option(help: "text for a person, json for scripts.")
    var format: OutputFormat = .text

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @OptionGroup var global: GlobalOptions

    /// `--format json`: the report, and whether the run that wrote it is alive.
    struct Output: Codable {
        var running: Bool
        var report: StatusReport
        /// Snapshots not yet ended, oldest first, then the last one that ended.
        var snapshots: [SnapshotJob]
    }

    func run() async throws {
        try await global.run {
            let configuration = try RunConfiguration.load(config, requireEnvironment: false)
            let now = PostgresTimestamp.now().unixMicroseconds
            var report = try StatusReport.load(stateDirectory: configuration.stateDirectory)
            let running = report.isRunning(now: now)
            let snapshots = try await report.overlayStore(stateDirectory: configuration.stateDirectory, routes: configuration.routes)
            report.overlayJournal(directory: configuration.journal.directory, running: running)
            if let note = await report.overlaySlot(dsn: configuration.source.dsn, slot: configuration.source.slot,
                                                   logger: Logger(label: "pgreflex.status")) {
                var standardError = StandardError()
                print("note: " + note, to: &standardError)
            }
            switch format {
            case .text:
                print(report.text(now: now, running: running))
                if !snapshots.isEmpty {
                    print("snapshots:")
                    for job in snapshots { print("  " + SnapshotCommand.line(job)) }
                }
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(Output(running: running, report: report, snapshots: snapshots)), as: UTF8.self))
            }
        }
    }
}
