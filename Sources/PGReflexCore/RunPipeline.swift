import Foundation
public import Logging
import PGReflexJournal
import PGReflexTransport
public import PGReflexWire

/// `pgreflex run`: the slot's changes into the durable journal, and from the journal to the
/// sink, with a checkpoint of what the sink holds. See docs/delivery.md for the guarantees.
public final class RunPipeline: Sendable {
    let configuration: RunConfiguration
    let tail: TailPipeline
    let logger: Logger

    /// Where the sink starts when it has no checkpoint.
    let ifNoCheckpoint: StartPosition

    public init(configuration: RunConfiguration, startLSN: LSN? = nil, endLSN: LSN? = nil, idleExit: Duration? = nil,
                ifNoCheckpoint: StartPosition = .earliest, logger: Logger) {
        self.configuration = configuration
        self.ifNoCheckpoint = ifNoCheckpoint
        self.logger = logger
        tail = TailPipeline(options: .init(
            source: configuration.source, startLSN: startLSN, endLSN: endLSN, idleExit: idleExit, privacy: configuration.privacy,
            schemaRegistry: configuration.schemaRegistry, schemaVersionPolicy: configuration.schemaVersionPolicy, command: "run"), logger: logger)
    }

    public func requestStop() {
        tail.requestStop()
    }

    public var checkpointPath: String { configuration.journal.directory + "/checkpoint.json" }

    public func run() async throws -> TailPipeline.Summary {
        if !FileManager.default.fileExists(atPath: configuration.schemaRegistry) {
            logger.info("the schema registry does not exist yet: pgreflex creates it and records each table's first version there. Commit it",
                        metadata: ["schema.registry": "\(configuration.schemaRegistry)"])
        }
        let journal = try Journal(options: configuration.journal.options, logger: logger)
        let sink = try FileSink(path: configuration.sink.path)
        var backoff = ReconnectBackoff()
        while true {
            let output = try openSession(journal: journal, sink: sink)
            let started = ContinuousClock.now
            do {
                return try await tail.run(output: output, idleTick: .milliseconds(100))
            } catch let error as ReplicationError where error.isRetryable && !tail.isStopRequested {
                if started.duration(to: .now) > .seconds(30) { backoff.succeeded() }
                let delay = backoff.failed()
                logger.warning("lost the replication connection; reconnecting", metadata: [
                    "error.code": "\(error.code)", "reconnect.attempt": "\(backoff.attempts)", "reconnect.delay": "\(delay)",
                ])
                try await Task.sleep(for: delay)
            }
        }
    }

    /// The output for a new session, with the sink brought up to the journal.
    private func openSession(journal: Journal, sink: FileSink) throws -> JournalOutput {
        let settings = configuration.journal
        var output = JournalOutput(
            journal: journal, sink: sink, checkpointPath: checkpointPath,
            policy: GroupCommit(maxRecords: settings.fsyncMaxRecords, maxDelay: settings.fsyncMaxDelay),
            schemaVersionPolicy: configuration.schemaVersionPolicy, registryDirectory: configuration.schemaRegistry,
            ifNoCheckpoint: ifNoCheckpoint, logger: logger)
        try output.resume()
        return output
    }
}
