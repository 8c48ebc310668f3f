public import ArgumentParser
public import Logging

#if canImport(Glibc)
import Glibc
#endif

@main
struct PGReflexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgreflex",
        abstract: "Turns PostgreSQL changes into triggers for AI agents.",
        subcommands: [TailCommand.self, RunCommand.self, SlotCommand.self, JournalCommand.self])
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Log level on stderr: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func bootstrapLogging() {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

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
