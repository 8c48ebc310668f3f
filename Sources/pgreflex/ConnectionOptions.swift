import ArgumentParser
import Foundation

/// How a command that connects finds its connection string: from the environment by default
/// (`PGREFLEX_DSN`, or the variable `--dsn-env` names), so that a password never sits on the
/// command line, where `ps` and shell history show it. `--dsn` stays for a socket path or a
/// passwordless local setup.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "libpq connection string or postgresql:// URI (it shows in ps and shell history: prefer --dsn-env).")
    var dsn: String?

    @Option(help: "The environment variable holding the connection string (default: PGREFLEX_DSN).")
    var dsnEnv: String?

    func validate() throws {
        if dsn != nil && dsnEnv != nil { throw ValidationError("give --dsn or --dsn-env, not both") }
    }

    private var variable: String { dsnEnv ?? "PGREFLEX_DSN" }

    /// The connection string, or an error naming both ways to give it.
    func resolved() throws -> String {
        if let dsn { return dsn }
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
            throw ValidationError("\(variable) is not set: export the connection string in it (or name another variable with --dsn-env, or pass --dsn)")
        }
        return value
    }
}
