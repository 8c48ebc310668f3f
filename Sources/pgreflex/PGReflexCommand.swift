public import ArgumentParser
public import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexEnvelope
import PGReflexRuntime
import PGReflexWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@main
struct PGReflexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgreflex",
        abstract: "Turns PostgreSQL changes into triggers for AI agents.",
        version: EnvelopeWriter.version,
        subcommands: [DemoCommand.self, TailCommand.self, RunCommand.self, StatusCommand.self, CheckCommand.self, RouteCommand.self, DLQCommand.self, ResultsCommand.self, EventCommand.self, TraceCommand.self, WebhookCommand.self, ReplayCommand.self, DetokenizeCommand.self, SchemaCommand.self, SlotCommand.self, SnapshotCommand.self, JournalCommand.self])
}

/// A subcommand's discussion: what it says, then one example and the doc that explains it.
func discussion(_ text: String = "", example: String, doc: String) -> String {
    (text.isEmpty ? "" : text + "\n\n") + "EXAMPLE:\n" + shellLines(example) + "\n\nMore: \(doc)"
}

/// A command broken with `\` into lines short enough that the help's wrapping (80 columns)
/// leaves them alone, never inside a quoted argument: copied and pasted, it is one command.
func shellLines(_ command: String, width: Int = 72) -> String {
    var words: [String] = []
    var word = ""
    var quote: Character?
    for c in command {
        if c == " " && quote == nil {
            if !word.isEmpty { words.append(word) }
            word = ""
            continue
        }
        if c == "\"" || c == "'" { quote = quote == c ? nil : (quote ?? c) }
        word.append(c)
    }
    if !word.isEmpty { words.append(word) }
    var lines: [String] = []
    var line = ""
    for word in words {
        if !line.isEmpty && line.count + 1 + word.count > width {
            lines.append(line)
            line = "    " + word
        } else {
            line += (line.isEmpty ? "" : " ") + word
        }
    }
    lines.append(line)
    return lines.map { "  " + $0 }.joined(separator: " \\\n")
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Log level on stderr: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: "Log lines as json (one object per line) or text. Default: text on a terminal, json otherwise; PGREFLEX_LOG_FORMAT sets it too.")
    var logFormat: LogFormat?

    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case json, text
    }

    /// The format in effect: the option, then PGREFLEX_LOG_FORMAT, then whether stderr is a terminal.
    var effectiveLogFormat: LogFormat {
        if let logFormat { return logFormat }
        if let value = ProcessInfo.processInfo.environment["PGREFLEX_LOG_FORMAT"], let format = LogFormat(rawValue: value) { return format }
        return isatty(2) == 1 ? .text : .json
    }

    /// Every command's prologue and epilogue: logging set up, then the body; what the body
    /// throws becomes the one-line error and exit status 1 (``fail(_:)``), except an exit code
    /// it chose itself.
    func run(_ body: () async throws -> Void) async throws {
        bootstrapLogging()
        do {
            try await body()
        } catch let code as ExitCode {
            throw code
        } catch {
            throw fail(error)
        }
    }

    /// The same, for a command with nothing to wait for.
    func run(_ body: () throws -> Void) throws {
        bootstrapLogging()
        do {
            try body()
        } catch let code as ExitCode {
            throw code
        } catch {
            throw fail(error)
        }
    }

    func bootstrapLogging() {
        let level = logLevel
        switch effectiveLogFormat {
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Where streaming starts and when it stops, for `tail` and `run` alike.
struct StreamRangeOptions: ParsableArguments {
    @Option(help: "Start at this LSN (X/Y, or the decimal source.lsn of an event) if the slot still has it.")
    var startLSN: LSN?

    @Option(help: "Stop once everything committed before this LSN (X/Y, or decimal) has been handled, and confirm it.")
    var endLSN: LSN?

    @Option(parsing: .unconditional, help: "Stop after this many seconds without a delivered change (heartbeats and skipped tables do not count).")
    var idleExit: Double?

    func validate() throws {
        if endLSN != nil && idleExit != nil {
            throw ValidationError("--end-lsn and --idle-exit are exclusive: pick one way to stop")
        }
        if let idleExit, idleExit <= 0 {
            throw ValidationError("--idle-exit takes a positive number of seconds")
        }
    }

    var idleDuration: Duration? { idleExit.map { .milliseconds(Int64($0 * 1000)) } }

    var streamRange: StreamRange { StreamRange(startLSN: startLSN, endLSN: endLSN, idleExit: idleDuration) }
}

/// Prints an error the way every command does, and exits non-zero.
func fail(_ error: any Error) -> ExitCode {
    var standardError = StandardError()
    print("pgreflex: error: \(error)", to: &standardError)
    return ExitCode(1)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var string = string
        string.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
