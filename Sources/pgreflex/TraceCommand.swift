import ArgumentParser
import Foundation
import Logging
import PGReflexConfig
import PGReflexRouter
import PGReflexState
import PGReflexTraces
import PGReflexWire

/// `pgreflex trace`: golden traces. Canonical events with what they led to, recorded with side
/// effects off, and replayed in CI against the current configuration.
struct TraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Golden traces: record canonical events with the decisions they led to, and fail CI when a route, prompt, tool or model changes them.",
        subcommands: [Record.self, Verify.self, Update.self])

    struct Record: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run events through the configuration with side effects off, and write what happened to a trace file.",
            discussion: discussion("Events come from the journal (--from-lsn, --to-lsn, --table), by id (--event), or from a file of envelopes (--events). "
                                   + "Nothing real happens: write tools, webhooks and emits are not sent (their receipts say simulated); exec agents run with "
                                   + "PGREFLEX_DRY_RUN=1; LLM agents ask the model at temperature 0, and sql_query tools read; the replies and rows are kept in the trace.",
                                   example: "pgreflex trace record --config run.yaml --events canonical-orders.jsonl --out traces/orders.jsonl", doc: "docs/ci.md"))

        @Option(help: "The YAML configuration file.") var config: String
        @Option(help: "The trace file to write.") var out: String
        @Option(help: "A file of envelopes, one JSON object per line.") var events: String?
        @Option(help: "An event id (repeatable), as `event show`, `results list` and `dlq list` write it: from the journal, or the dead-letter queue when retention let it go.") var event: [String] = []
        @Option(help: "From the journal: events committed at or after this LSN.") var fromLSN: LSN?
        @Option(help: "From the journal: events committed at or before this LSN.") var toLSN: LSN?
        @Option(help: "From the journal: only this table (schema.table, globs allowed; repeatable).") var table: [String] = []
        @Option(help: "From the journal: at most this many events.") var limit: Int = 1000
        @Flag(help: "Replace the file when it exists (`trace update` re-records one and shows what changed).") var force = false
        @OptionGroup var global: GlobalOptions

        /// The events `--event` names, in its order: from the journal, or, when its retention let
        /// one go, from the dead-letter queue, which keeps the envelope.
        func byID(_ configuration: RunConfiguration) async throws -> [TraceEvent] {
            var found = try TraceEvent.fromJournal(directory: configuration.journal.directory, ids: event)
            let missing = event.filter { found[$0.lowercased()] == nil }
            if !missing.isEmpty, let store = try SQLiteStateStore.openExisting(directory: configuration.stateDirectory) {
                for id in missing {
                    for letter in try await store.deadLetters(DeadLetterFilter(eventID: id.lowercased())) {
                        if let kept = TraceEvent.fromDeadLetter(eventID: letter.eventID, envelope: letter.envelope) { found[id.lowercased()] = kept }
                    }
                }
            }
            return try event.map { id in
                guard let kept = found[id.lowercased()] else {
                    throw ValidationError("--event \(id): neither the journal in \(configuration.journal.directory) nor the dead-letter queue holds it "
                        + "(retention removed it, or it is another database's): put its envelope in a file and pass --events")
                }
                return kept
            }
        }

        func run() async throws {
            try await global.run {
                let configuration = try RunConfiguration.load(config, requireEnvironment: false)
                guard !configuration.routes.isEmpty else { throw ValidationError("\(config) has no routes: section: a trace records what routes do") }
                guard force || !FileManager.default.fileExists(atPath: out) else {
                    throw ValidationError("--out \(out) exists: re-record it with `pgreflex trace update --config \(config) \(out)` (it shows the difference), or pass --force")
                }
                let sources = (events == nil ? 0 : 1) + (event.isEmpty ? 0 : 1) + (fromLSN != nil || toLSN != nil || !table.isEmpty ? 1 : 0)
                guard sources <= 1 else { throw ValidationError("give events one way: --events FILE, --event ID, or a journal range (--from-lsn, --to-lsn, --table)") }
                guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
                let patterns = try table.map { text -> TablePattern in
                    guard let pattern = TablePattern(parsing: text) else { throw ValidationError("--table \(text) is not schema.table (globs allowed)") }
                    return pattern
                }
                let chosen: [TraceEvent]
                if let events {
                    chosen = try TraceEvent.fromFile(path: events)
                } else {
                    guard FileManager.default.fileExists(atPath: configuration.journal.directory) else {
                        throw ValidationError("no journal in \(configuration.journal.directory) (journal.directory): run `pgreflex run --config \(config)` first, or pass --events")
                    }
                    chosen = event.isEmpty
                        ? try TraceEvent.fromJournal(directory: configuration.journal.directory, from: fromLSN, to: toLSN, tables: patterns, limit: limit)
                        : try await byID(configuration)
                }
                guard !chosen.isEmpty else { throw ValidationError("the journal holds no event in that range: widen --from-lsn/--to-lsn or --table") }
                let runner = TraceRunner(configuration: configuration, logger: Logger(label: "pgreflex.trace"))
                try runner.requireEnvironment(live: true)
                let entries = try await runner.run(chosen, inputs: .live)
                let trace = GoldenTrace(header: .init(recordedAt: Date().formatted(.iso8601), config: config), entries: entries)
                try trace.write(path: out)
                print(TraceSummary(entries).line(verb: "recorded", file: out))
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run traces through the current configuration and compare. Exits 0 when all match, 1 on a difference, 2 on a usage error.",
            discussion: discussion("Offline by default: the model's replies and the read tools' rows come from the trace, so a changed route, "
                                   + "template, tool schema or action validation shows as a difference and the model's randomness cannot. "
                                   + "--live asks the configured model (temperature 0) and runs the read tools: it checks a model upgrade.",
                                   example: "pgreflex trace verify --config run.yaml traces/ --format junit > trace-report.xml", doc: "docs/ci.md"))

        @Option(help: "The YAML configuration file.") var config: String
        @Argument(help: "Trace files, or directories of them (*.jsonl).") var traces: [String]
        @Flag(help: "Ask the model and run the read tools instead of using the recording.") var live = false
        @Option(help: "text, json or junit.") var format: Format = .text
        @OptionGroup var global: GlobalOptions

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, junit }

        func run() async throws {
            try await usage(global) {
                let report = try await verifyAll(config: config, traces: traces, live: live, accept: false)
                print(report.rendered(TraceReport.Format(rawValue: format.rawValue)!), terminator: "")
                if !report.passed { throw ExitCode(1) }
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-record the expected side of traces after a deliberate change, and print the difference it accepted.",
            discussion: discussion("Offline by default (the recorded replies and rows answer again); --live asks the model and runs the read tools, "
                                   + "and keeps their new answers.",
                                   example: "pgreflex trace update --config run.yaml traces/orders.jsonl", doc: "docs/ci.md"))

        @Option(help: "The YAML configuration file.") var config: String
        @Argument(help: "Trace files, or directories of them (*.jsonl).") var traces: [String]
        @Flag(help: "Ask the model and run the read tools again.") var live = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await usage(global) {
                let report = try await verifyAll(config: config, traces: traces, live: live, accept: true)
                if report.passed {
                    print("nothing to update: every event is as recorded")
                } else {
                    print(report.text(accepted: true), terminator: "")
                }
            }
        }
    }
}

/// What a recording holds, in one line.
struct TraceSummary {
    var events = 0, calls = 0, replies = 0, reads = 0, simulated = 0

    init(_ entries: [TraceEntry]) {
        events = entries.count
        for entry in entries {
            for case let route as [String: Any] in (entry.expected["routes"] as? [String: Any] ?? [:]).values {
                for call in route["calls"] as? [[String: Any]] ?? [] {
                    calls += 1
                    simulated += (call["receipts"] as? [[String: Any]] ?? []).filter { $0["status"] as? String == "simulated" }.count
                }
            }
            for case let inputs as [String: Any] in entry.recorded.values {
                replies += (inputs["replies"] as? [Any])?.count ?? 0
                reads += (inputs["reads"] as? [Any])?.count ?? 0
            }
        }
    }

    func line(verb: String, file: String) -> String {
        "\(verb) \(events) event\(events == 1 ? "" : "s") into \(file): \(calls) call\(calls == 1 ? "" : "s"), \(replies) model repl\(replies == 1 ? "y" : "ies"), "
            + "\(reads) read\(reads == 1 ? "" : "s") kept; \(simulated) side effect\(simulated == 1 ? "" : "s") simulated, none sent"
    }
}

/// Every trace the arguments name, run again through the configuration; `accept`: a trace that
/// differs is re-recorded (`trace update`).
private func verifyAll(config: String, traces: [String], live: Bool, accept: Bool) async throws -> TraceReport {
    let (configuration, files) = try load(config: config, traces: traces)
    let runner = TraceRunner(configuration: configuration, logger: Logger(label: "pgreflex.trace"))
    try runner.requireEnvironment(live: live)
    var checked: [TraceVerification] = []
    for file in files {
        let verification = try await runner.verify(path: file, live: live, tolerances: configuration.traceTolerances)
        if accept && !verification.passed { try verification.updated.write(path: file) }
        checked.append(verification)
    }
    return TraceReport(checked)
}

/// The configuration and every trace file the arguments name (directories: their *.jsonl, sorted).
private func load(config: String, traces: [String]) throws -> (RunConfiguration, [String]) {
    let configuration = try RunConfiguration.load(config, requireEnvironment: false)
    var files: [String] = []
    for path in traces {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("\(path): no such file or directory: pass trace files (written by `pgreflex trace record`) or directories of them")
        }
        if isDirectory.boolValue {
            let found = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
            guard !found.isEmpty else { throw ValidationError("\(path) holds no trace (*.jsonl): record one with `pgreflex trace record`") }
            files += found.map { (path.hasSuffix("/") ? path : path + "/") + $0 }
        } else {
            files.append(path)
        }
    }
    guard !files.isEmpty else { throw ValidationError("name the traces to check: files or directories") }
    return (configuration, files)
}

/// `trace verify`'s exit codes: 0 all match, 1 a difference (the body throws ExitCode(1)),
/// 2 anything that kept the check from running (a bad path, trace or configuration).
private func usage(_ global: GlobalOptions, _ body: () async throws -> Void) async throws {
    try await global.run {
        do {
            try await body()
        } catch let code as ExitCode {
            throw code
        } catch {
            _ = fail(error)
            throw ExitCode(2)
        }
    }
}
