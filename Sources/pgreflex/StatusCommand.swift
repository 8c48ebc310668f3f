import ArgumentParser
import Foundation
import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexDelivery
import PGReflexJournal
import PGReflexMonitoring
import PGReflexRouter
import PGReflexSnapshot
import PGReflexState
import PGReflexStatus
import PGReflexTransport
import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

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
            let path = configuration.stateDirectory + "/" + StatusReporter.fileName
            var report = StatusReport()
            if let data = FileManager.default.contents(atPath: path) {
                do {
                    report = try JSONDecoder().decode(StatusReport.self, from: data)
                } catch {
                    throw ValidationError("\(path): the status file is not readable (\(error)); it is rewritten each second while `pgreflex run` runs")
                }
            }
            // Alive and writing: the pid exists and the file is fresh.
            let running = report.pid > 0 && kill(report.pid, 0) == 0 && now - report.generatedAt < 10_000_000
            let snapshots = try await overlayStore(&report, configuration)
            overlayJournal(&report, configuration, running: running)
            await overlaySlot(&report, configuration)
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

    /// The dead-letter queue and the routes' cursors as the state store has them now; returns the
    /// snapshots worth showing (those not ended, then the last that ended).
    func overlayStore(_ report: inout StatusReport, _ configuration: RunConfiguration) async throws -> [SnapshotJob] {
        guard let store = try SQLiteStateStore.openExisting(directory: configuration.stateDirectory) else { return [] }
        let jobs = try await store.snapshots()
        let snapshots = jobs.filter { !$0.state.isFinal } + (jobs.last { $0.state.isFinal }.map { [$0] } ?? [])
        guard !configuration.routes.isEmpty else { return snapshots }
        report.deadLetters = try await store.deadLetterCounts()
        for route in configuration.routes {
            var status = report.routes[route.name] ?? RouteStatus(agent: route.agent)
            if let cursor = try await store.cursor(route.consumerName) { status.position = cursor.commitLSN }
            report.routes[route.name] = status
        }
        return snapshots
    }

    /// File consumers' cursors from the journal, when no live figures are at hand.
    func overlayJournal(_ report: inout StatusReport, _ configuration: RunConfiguration, running: Bool) {
        guard !running, let lags = try? JournalConsumer.lags(journal: configuration.journal.directory) else { return }
        var consumers = Dictionary(uniqueKeysWithValues: report.consumers.map { ($0.name, $0) })
        for lag in lags {
            consumers[lag.name] = ConsumerStatus(name: lag.name, position: lag.position?.commitLSN.rawValue ?? 0, lagBytes: lag.behindBytes)
        }
        report.consumers = consumers.values.sorted { $0.name < $1.name }
    }

    /// The slot as the database sees it: active, confirmed, retained WAL. Unreachable is said, not fatal.
    func overlaySlot(_ report: inout StatusReport, _ configuration: RunConfiguration) async {
        report.capture.slot = configuration.source.slot
        guard !configuration.source.dsn.isEmpty else { return }
        let logger = Logger(label: "pgreflex.status")
        do {
            let slotName = configuration.source.slot
            let (found, health) = try await PostgresConnection.withConnection(configuration.source.dsn, mode: .sql, logger: logger) { session in
                (try await session.slot(named: slotName), try await session.slotHealth(named: slotName))
            }
            report.capture.slotExists = found != nil
            if let slot = found {
                report.capture.slotActive = slot.active
                if let confirmed = slot.confirmedFlushLSN { report.capture.progress.confirmedLSN = confirmed.rawValue }
                report.capture.slotWALStatus = slot.walStatus
            }
            if let health { report.capture.slotRetainedBytes = health.retainedBytes }
        } catch {
            var standardError = StandardError()
            let code = (error as? PostgresError)?.code.rawValue ?? "error"
            print("note: could not reach the database for the slot's figures (\(code)); showing the last reported ones", to: &standardError)
        }
    }
}
