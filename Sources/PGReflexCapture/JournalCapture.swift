import Foundation
public import Logging
import PGReflexFiles
public import PGReflexJournal
public import PGReflexStatus
import PGReflexThreads
import PGReflexTransport
import PGReflexWire

/// `pgreflex run`, the capture half: the slot's changes into the durable journal. The journal
/// is the boundary: the consumers (PGReflexDelivery) follow it, each with its own cursor, and
/// learn through the ``JournalChannel`` how far it is durable. See docs/architecture.md.
public final class JournalCapture: Sendable {
    /// What `run`'s capture needs from the configuration.
    public struct Options: Sendable {
        public var pipeline: CapturePipeline.Options
        public var journal: Journal.Options
        public var fsyncMaxRecords: Int
        public var fsyncMaxDelay: Duration
        /// `run --accept-gap`: a slot that starts past the journal is accepted, the gap recorded.
        public var acceptGap: Bool

        public init(pipeline: CapturePipeline.Options, journal: Journal.Options, fsyncMaxRecords: Int, fsyncMaxDelay: Duration,
                    acceptGap: Bool = false) {
            self.pipeline = pipeline
            self.journal = journal
            self.fsyncMaxRecords = fsyncMaxRecords
            self.fsyncMaxDelay = fsyncMaxDelay
            self.acceptGap = acceptGap
        }
    }

    let options: Options
    let pipeline: CapturePipeline
    let logger: Logger
    public let channel: JournalChannel

    /// `channel`: where the consumers learn how far the journal is durable. They register
    /// with it before capture starts, so that retention keeps what they need.
    public init(options: Options, channel: JournalChannel, status: PipelineStatus = PipelineStatus(), logger: Logger) {
        var options = options
        options.pipeline.source.hints = .run
        options.pipeline.command = "run"
        self.options = options
        self.channel = channel
        self.logger = logger
        pipeline = CapturePipeline(options: options.pipeline, status: status, logger: logger)
    }

    /// Asks capture to stop after the batch in hand (graceful shutdown), even while it waits for room.
    public func requestStop() {
        pipeline.requestStop()
        channel.progressed.notify()
    }

    /// Captures until a stop, the end LSN or idleness. Ended by itself (end LSN, idleness), it
    /// tells the consumers that nothing more is coming: they deliver what is durable, then end,
    /// and that ends `run`. Stopped (SIGTERM) or failed, it leaves the consumers to the
    /// service group's shutdown, which stops them after the batch in hand.
    public func run() async throws -> CapturePipeline.Summary {
        if let registry = options.pipeline.schemaRegistry, !FileManager.default.fileExists(atPath: registry) {
            logger.info("the schema registry does not exist yet: pgreflex creates it and records each table's first version there. Commit it",
                        metadata: ["schema.registry": "\(registry)"])
        }
        var options = self.options.journal
        if options.retention.maxBytes == nil {
            // A default install must not fill its disk with history it has already delivered.
            let bound = Self.defaultRetentionBytes(directory: options.directory)
            options.retention.maxBytes = bound
            logger.info("journal.retention.max_bytes is not set: keeping at most the smaller of 10 GiB and a quarter of the free space",
                        metadata: ["journal.retention.max_bytes": "\(bound)", "journal.directory": "\(options.directory)"])
        }
        let journal = try Journal(options: options, logger: logger)
        channel.publish(journal.durableMark)
        var backoff = ReconnectBackoff()
        // Reconnecting is for a connection that once worked: a first one that fails is a
        // wrong host, port or password more often than a server starting, and says so at once.
        var streamedOnce = false
        while true {
            let pipeline = self.pipeline
            let output = try JournalingOutput(
                journal: journal, channel: channel,
                policy: GroupCommit(maxRecords: self.options.fsyncMaxRecords, maxDelay: self.options.fsyncMaxDelay),
                status: pipeline.status, stopRequested: { pipeline.isStopRequested }, acceptGap: self.options.acceptGap, logger: logger)
            let started = ContinuousClock.now
            do {
                let summary = try await pipeline.run(output: output, idleTick: .milliseconds(100))
                if summary.stopReason != .requested { channel.finish() }
                return summary
            } catch let error as PostgresError where error.isRetryable && !pipeline.isStopRequested {
                pipeline.status.updateCapture { if $0.state != .starting { streamedOnce = true } }
                guard streamedOnce else { throw error }
                if started.duration(to: .now) > .seconds(30) { backoff.succeeded() }
                let delay = backoff.failed()
                pipeline.status.updateCapture {
                    $0.state = .reconnecting
                    $0.reason = "\(error.code)"
                }
                // The error's text names the endpoint and libpq's message, never the conninfo.
                logger.warning("lost the replication connection; reconnecting", metadata: [
                    "error.code": "\(error.code)", "error.message": "\(error.message)",
                    "reconnect.attempt": "\(backoff.attempts)", "reconnect.delay": "\(delay)",
                ])
                // A stop (SIGTERM) wakes this wait: sleeping out the backoff would hold the
                // shutdown for up to the whole delay.
                let seen = channel.progressed.generation
                if !pipeline.isStopRequested { await channel.progressed.wait(since: seen, timeout: delay) }
                if pipeline.isStopRequested {
                    logger.notice("stopped while waiting to reconnect", metadata: ["error.code": "\(error.code)"])
                    return CapturePipeline.Summary(events: 0, transactions: 0, confirmedLSN: .invalid, stopReason: .requested)
                }
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
}
