import Foundation
public import Logging
import PGReflexFiles
public import PGReflexJournal
public import PGReflexSchema
public import PGReflexWire

/// `pgreflex replay`: re-delivers a range of the journal, in commit order, including ranges the
/// slot has confirmed long ago. It only reads the journal, so it may run beside `run`.
public struct JournalReplay {
    public enum Destination: Sendable, Equatable {
        /// A configured consumer's sink (the file `run` delivers that consumer's events to).
        case consumer(ConsumerSettings)
        /// Another file, appended to.
        case file(String)
        case standardOutput
    }

    public struct Summary: Sendable, Equatable {
        public var events = 0
        /// Distinct commit LSNs among the events.
        public var transactions = 0
        public var first: EventPosition?
        public var last: EventPosition?
        /// Events per `schema.table` (and `message` for logical messages), for --dry-run.
        public var perTable: [String: Int] = [:]
        /// Events left out, per `schema.table`: their table is held for a schema version not yet
        /// accepted (`schemas.on_new_version: hold`), as `run` holds them.
        public var held: [String: Int] = [:]
        /// Gaps left by `journal repair` inside the range.
        public var gaps: [JournalGap] = []
    }

    let journalDirectory: String
    let schemaRegistry: String
    let schemaVersionPolicy: SchemaVersionPolicy
    let logger: Logger

    public init(journalDirectory: String, schemaRegistry: String, schemaVersionPolicy: SchemaVersionPolicy, logger: Logger) {
        self.journalDirectory = journalDirectory
        self.schemaRegistry = schemaRegistry
        self.schemaVersionPolicy = schemaVersionPolicy
        self.logger = logger
    }

    /// Events whose commit LSN is in `from ... to` (`to` nil: to the journal's end).
    public func run(from: LSN, to: LSN?, destination: Destination, dryRun: Bool) throws -> Summary {
        let directory = journalDirectory
        guard FileManager.default.fileExists(atPath: directory) else {
            throw JournalError(code: .notFound, segment: directory,
                               message: "there is no journal here: has `pgreflex run` run with this configuration?")
        }
        precondition(to.map { $0 >= from } ?? true, "the command validates the range")
        let journal = try Journal(options: .init(directory: directory, readOnly: true), logger: logger)
        let start = EventPosition(commitLSN: from, ordinal: 0)
        try journal.requireRetained(start)
        let gaps = try Journal.gaps(directory: directory).filter {
            $0.overlaps(from: start, to: to.map { EventPosition(commitLSN: $0, ordinal: .max) })
        }

        var deliver: ([UInt8]) throws -> Void = { _ in }
        var finish: () throws -> Void = {}
        if !dryRun {
            switch destination {
            case .consumer, .file:
                let sink = switch destination {
                case .consumer(let settings): try FileSink(path: settings.path, setting: settings.pathSetting)
                case .file(let path): try FileSink(path: path, setting: "--output")
                case .standardOutput: preconditionFailure("handled below")
                }
                var pending = 0
                deliver = { bytes in
                    sink.append(bytes)
                    pending += 1
                    if pending >= 4096 {
                        try sink.sync()
                        pending = 0
                    }
                }
                finish = { try sink.sync() }
            case .standardOutput:
                var buffer: [UInt8] = []
                let writer = FileDescriptorWriter.standardOutput
                deliver = { bytes in
                    buffer.append(contentsOf: bytes)
                    if buffer.count >= 1 << 20 {
                        try writer.write(buffer)
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
                finish = { try writer.write(buffer) }
            }
        }

        var summary = Summary(gaps: gaps)
        for gap in gaps {
            logger.warning("the range crosses records a journal repair removed: they are not re-delivered", metadata: ["journal.gap": "\(gap)"])
        }
        let policy = schemaVersionPolicy
        var holds = SchemaHolds(policy: policy, accepted: policy.holdsAny
                                    ? try SchemaRegistry.acceptedVersions(directory: schemaRegistry) : [:],
                                now: ContinuousClock.now)
        let end = to.map { EventPosition(commitLSN: $0, ordinal: Int.max) }
        try journal.read(from: start, to: end) { record in
            let metadata = holds.isEnabled || dryRun ? record.resolvedMetadata : nil
            if holds.isEnabled, let table = metadata?.table, !table.isEmpty,
               holds.route(table: table, version: metadata?.schemaVersion, at: record.position, now: .now) != .deliver {
                summary.held[table, default: 0] += 1
                return
            }
            if summary.last?.commitLSN != record.position.commitLSN { summary.transactions += 1 }
            if summary.first == nil { summary.first = record.position }
            summary.last = record.position
            summary.events += 1
            if dryRun {
                summary.perTable[metadata?.collection ?? "?", default: 0] += 1
            } else {
                try deliver(record.envelope)
            }
        }
        try finish()
        return summary
    }
}
