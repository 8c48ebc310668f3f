public import ArgumentParser
import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexEnvelope
import PGReflexFiles
import PGReflexJournal
import PGReflexPrivacy
import PGReflexTransport
public import PGReflexWire
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Stream changes from a logical slot and print one JSON object per change.",
        discussion: discussion(
            example: "PGREFLEX_DSN=\"host=/tmp dbname=app user=app\" pgreflex tail --slot app_slot --publication app_pub --tables public.orders --create-slot --create-publication --idle-exit 5",
            doc: "docs/cli.md (pgreflex tail), docs/types.md"))

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Logical replication slot (pgoutput).")
    var slot: String

    @Option(help: "Publication to stream.")
    var publication: String

    @Option(help: "Tables the publication must include, as schema.table (comma-separated).",
            transform: { try parseTables($0) })
    var tables: [TableName] = []

    @Flag(help: "Create the slot if it does not exist.")
    var createSlot = false

    @Flag(help: "Create the publication (or add the missing --tables to it).")
    var createPublication = false

    @Flag(help: "With --create-publication and no --tables: publish FOR ALL TABLES.")
    var allTables = false

    @OptionGroup var range: StreamRangeOptions

    @Option(help: "pgoutput protocol version (1-4). Default: 2 where the server supports it.")
    var protoVersion: Int?

    @Option(help: "Stream large in-progress transactions: on or off.")
    var streaming: StreamingMode = .on

    @Option(help: "source.name in the envelopes (Debezium's topic prefix).")
    var serverName = "pgreflex"

    @Option(help: "Value written for a TOASTed column an update did not send.")
    var unavailableValuePlaceholder = "__debezium_unavailable_value"

    @Flag(help: "Also print Debezium's BEGIN and END transaction events.")
    var transactionEvents = false

    @Option(help: "numeric and money as: string (exact, default), double, or precise ({scale, value: base64}).")
    var decimalHandlingMode: DecimalHandling = .string

    @Option(name: .customLong("heartbeat-interval-ms"), parsing: .unconditional,
            help: "Emit an idle heartbeat (a logical message, never printed) after this many milliseconds without changes, so the slot can advance (run's source.heartbeat_interval_ms). Default: off.")
    var heartbeatIntervalMS: Int?

    @Option(help: "Apply the privacy section of this YAML file (the run configuration, say) before printing.")
    var privacy: String?

    @Option(help: "The schema registry directory (run's schemas.directory): versions in source.schema_version come from it, and new shapes are recorded in it. Default: numbered in memory for this run.")
    var registry: String?

    @OptionGroup var global: GlobalOptions

    enum StreamingMode: String, ExpressibleByArgument {
        case on, off
    }

    func validate() throws {
        if let protoVersion, !(1...4).contains(protoVersion) {
            throw ValidationError("--proto-version must be 1, 2, 3 or 4")
        }
        if let heartbeatIntervalMS, heartbeatIntervalMS <= 0 {
            throw ValidationError("--heartbeat-interval-ms takes a positive number of milliseconds")
        }
        if allTables && !createPublication {
            throw ValidationError("--all-tables only applies with --create-publication")
        }
    }

    func run() async throws {
        try await global.run {
            // A closed stdout must surface as EPIPE (handled: stop without confirming), not kill us.
            signal(SIGPIPE, SIG_IGN)
            let logger = Logger(label: "pgreflex.tail")
            let policy = try privacy.map { try RunConfiguration.loadPrivacy($0) }
            let source = SourceOptions(
                dsn: try connection.resolved(), slot: slot, publication: publication, tables: tables, createSlot: createSlot,
                createPublication: createPublication, allTables: allTables,
                monitor: .init(heartbeatInterval: heartbeatIntervalMS.map { .milliseconds($0) },
                               retainedWALWarningBytes: 1 << 30))
            let options = CapturePipeline.Options(
                source: source, startLSN: range.startLSN, endLSN: range.endLSN, idleExit: range.idleDuration,
                protocolVersion: protoVersion, streaming: streaming == .on ? .on : .off, serverName: serverName,
                unavailableValuePlaceholder: unavailableValuePlaceholder, transactionEvents: transactionEvents,
                decimalHandling: decimalHandlingMode, privacy: policy, schemaRegistry: registry)
            try await runUntilDone(CaptureService(tail: CapturePipeline(options: options, logger: logger), output: .standardOutput),
                                   logger: logger)
        }
    }
}

/// Runs one pipeline service under swift-service-lifecycle (graceful stop on SIGTERM and
/// SIGINT); its failure ends the group and is thrown.
func runUntilDone(_ service: CaptureService, logger: Logger) async throws {
    let group = ServiceGroup(configuration: .init(
        services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                         failureTerminationBehavior: .gracefullyShutdownGroup)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
}

func parseTables(_ text: String) throws -> [TableName] {
    try text.split(separator: ",").map { part in
        let trimmed = part.trimmingCharacters(in: " ")
        guard let table = TableName(parsing: trimmed) else {
            throw ValidationError("--tables: '\(trimmed)' is not a table name; use schema.table or table")
        }
        return table
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}

extension LSN: ExpressibleByArgument {
    /// `X/Y` as PostgreSQL prints LSNs, or the decimal number events carry in `source.lsn`.
    public init?(argument: String) {
        if argument.contains("/") {
            self.init(argument)
        } else if let value = UInt64(argument) {
            self.init(value)
        } else {
            return nil
        }
    }
}

extension DecimalHandling: ExpressibleByArgument {}
