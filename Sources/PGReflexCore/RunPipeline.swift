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
        var options = configuration.journal.options
        if options.retention.maxBytes == nil {
            // A default install must not fill its disk with history it has already delivered.
            let bound = Self.defaultRetentionBytes(directory: options.directory)
            options.retention.maxBytes = bound
            logger.info("journal.retention.max_bytes is not set: keeping at most the smaller of 10 GiB and a quarter of the free space",
                        metadata: ["journal.retention.max_bytes": "\(bound)", "journal.directory": "\(options.directory)"])
        }
        let journal = try Journal(options: options, logger: logger)
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

    /// The smaller of 10 GiB and a quarter of the free space where the journal lives (its
    /// directory, or the nearest existing parent).
    static func defaultRetentionBytes(directory: String) -> Int {
        let fixed = 10 << 30
        var path = directory
        var info = statvfs()
        while statvfs(path, &info) != 0 {
            let parent = (path as NSString).deletingLastPathComponent
            guard !parent.isEmpty, parent != path else { return fixed }
            path = parent
        }
        let free = Int(info.f_bavail) * Int(info.f_frsize)
        return max(min(fixed, free / 4), 64 << 20)
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
