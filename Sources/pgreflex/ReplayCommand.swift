import ArgumentParser
import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexDelivery
import PGReflexEnvelope
import PGReflexJournal
import PGReflexRouter
import PGReflexRuntime
import PGReflexWire

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-deliver a range of the journal, in commit order, to the sink (or another output).",
        discussion: discussion("""
            Events whose commit LSN is in [--from-lsn, --to-lsn] are delivered again with their original ids, \
            so a consumer that drops duplicates by id sees each once. The range may lie before the slot's \
            confirmed position: the journal keeps it as long as journal.retention allows. Only reads the \
            journal, so it can run while `pgreflex run` does.
            """, example: "pgreflex replay --config run.yaml --from-lsn 0/16B3748 --to-lsn 0/16C0000 --output -", doc: "docs/delivery.md (Replay)"))

    @Option(help: "The YAML configuration file (its journal and sink are used).")
    var config: String

    @Option(help: "The first commit LSN (X/Y) to re-deliver.")
    var fromLSN: LSN

    @Option(help: "The last commit LSN (X/Y) to re-deliver (default: the end of the journal).")
    var toLSN: LSN?

    @Option(help: "Deliver to this file (appended), or - for stdout, instead of a consumer's sink.")
    var output: String?

    @Option(help: "Deliver to this configured consumer's sink (default: sink, or the only consumer). Its cursor does not move.")
    var consumer: String?

    @Option(help: "Re-deliver through this route only: its conditions, flow control and agent. Its cursor does not move; events recorded as done are skipped unless --force.")
    var route: String?

    @Flag(help: "With --route: run events recorded as done again (the agent gets the same idempotency keys; an acting agent carries out the decision it recorded).")
    var force = false

    @Flag(help: "With --route: acting agents decide again instead of carrying out their recorded decisions; the new decisions' actions get new keys (<call key>:d<n>:<i>).")
    var redecide = false

    @Flag(help: "Only count what would be re-delivered, per table.")
    var dryRun = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let toLSN, toLSN < fromLSN { throw ValidationError("--to-lsn \(toLSN) is before --from-lsn \(fromLSN): swap them") }
        if route != nil && (output != nil || consumer != nil || dryRun) {
            throw ValidationError("--route re-delivers through the route's agent: leave out --output, --consumer and --dry-run")
        }
        if force && route == nil { throw ValidationError("--force applies to --route: name the route") }
        if redecide && route == nil { throw ValidationError("--redecide applies to --route: name the route") }
    }

    func run() async throws {
        try await global.run {
            let logger = Logger(label: "pgreflex.replay")
            // Replay reads the journal only: the source's DSN need not be set.
            let configuration = try RunConfiguration.load(config, requireEnvironment: false)
            if let route {
                try await replay(route: route, configuration: configuration, logger: logger)
                return
            }
            let destination: JournalReplay.Destination = switch output {
            // A dry run writes nothing: it needs no consumer to count for.
            case nil where dryRun && consumer == nil: .standardOutput
            case nil: .consumer(try configuration.consumer(named: consumer))
            case "-": .standardOutput
            case let path?: .file(path)
            }
            let summary = try JournalReplay(journalDirectory: configuration.journal.directory, schemaRegistry: configuration.schemaRegistry,
                                            schemaVersionPolicy: configuration.schemaVersionPolicy, logger: logger)
                .run(from: fromLSN, to: toLSN, destination: destination, dryRun: dryRun)
            var standardError = StandardError()
            let range = summary.first.map { "\($0) … \(summary.last!)" } ?? "nothing in that range"
            print("\(dryRun ? "would re-deliver" : "re-delivered") \(summary.events) events of \(summary.transactions) transactions (\(range))",
                  to: &standardError)
            for (table, count) in summary.held.sorted(by: { $0.key < $1.key }) {
                print("left out \(count) events of \(table): its schema version awaits `pgreflex schema accept` (schemas.on_new_version: hold)",
                      to: &standardError)
            }
            for gap in summary.gaps {
                print("missing from the journal: \(gap) (journal repair); re-read them from the slot if it still has them, or resnapshot",
                      to: &standardError)
            }
            if dryRun {
                for (table, count) in summary.perTable.sorted(by: { $0.key < $1.key }) { print("\(table)\t\(count)") }
            }
        }
    }

    /// Through one route, as `run` would deliver it, but over the range only.
    func replay(route: String, configuration: RunConfiguration, logger: Logger) async throws {
        let counts = try await configuration.replay(route: route, from: fromLSN, to: toLSN, force: force, redecide: redecide, logger: logger)
        var standardError = StandardError()
        print("route \(route): read \(counts.read) events, \(counts.read - counts.filtered) matched, \(counts.succeeded) calls succeeded, "
              + "\(counts.duplicates) already done (skipped\(force ? "" : "; --force runs them again")), \(counts.deadLettered) dead-lettered",
              to: &standardError)
    }
}
