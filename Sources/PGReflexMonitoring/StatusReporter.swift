import CoreMetrics
import Foundation
public import Logging
public import PGReflexJournal
public import PGReflexState
public import PGReflexStatus
import PGReflexWire
public import ServiceLifecycle

/// Once a second: the consumers' lag behind the journal, the journal's size and the
/// dead-letter queue into the status and the metrics, and the status into `status.json` in the
/// state directory, where `pgreflex status` reads it while `run` runs.
public final class StatusReporter: Service, Sendable {
    public static let fileName = "status.json"

    let status: PipelineStatus
    let channel: JournalChannel
    let journalDirectory: String
    let stateDirectory: String
    let store: (any StateStore)?
    let interval: Duration
    let logger: Logger

    public init(status: PipelineStatus, channel: JournalChannel, journalDirectory: String, stateDirectory: String,
                store: (any StateStore)?, interval: Duration = .seconds(1), logger: Logger) {
        self.status = status
        self.channel = channel
        self.journalDirectory = journalDirectory
        self.stateDirectory = stateDirectory
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public var path: String { stateDirectory + "/" + Self.fileName }

    public func run() async throws {
        var round = 0
        var warned = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await report(deadLetters: round % 5 == 0)
            } catch where !warned {
                warned = true
                logger.warning("could not write the status file: `pgreflex status` will show old figures", metadata: [
                    "status.path": "\(path)", "error": "\(error)",
                ])
            } catch {}
            round += 1
            let interval = self.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
        // The last word: what the run had done when it stopped.
        try? await report(deadLetters: true)
    }

    func report(deadLetters: Bool) async throws {
        let end = channel.mark.position?.commitLSN.rawValue ?? 0
        let consumers = channel.consumers.sorted { $0.key < $1.key }.map { name, progress in
            let position = progress.floor?.commitLSN.rawValue ?? 0
            return ConsumerStatus(name: name, position: position, lagBytes: end > position ? end - position : 0)
        }
        let bytes = Self.directoryBytes(journalDirectory)
        status.updateConsumers(consumers, journalBytes: bytes)
        for consumer in consumers {
            Gauge(label: "pgreflex_consumer_lag_bytes", dimensions: [("consumer", consumer.name)]).record(Double(consumer.lagBytes))
        }
        Gauge(label: "pgreflex_journal_bytes").record(Double(bytes))
        if deadLetters, let store {
            let byRoute = try await store.deadLetterCounts()
            status.updateDeadLetters(byRoute)
            for (route, count) in byRoute {
                Gauge(label: "pgreflex_dead_letter_queue_size", dimensions: [("route", route)]).record(count)
            }
        }
        let report = status.report(now: PostgresTimestamp.now().unixMicroseconds)
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        try AtomicFile.writeJSON(report, to: path)
    }

    /// Segment files' sizes (the journal's own files, not its subdirectories).
    static func directoryBytes(_ directory: String) -> Int64 {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.reduce(Int64(0)) { total, name in
            let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? 0
            return total + Int64(size)
        }
    }
}
