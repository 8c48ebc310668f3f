import Foundation
import PGReflexTestSupport
import Testing

/// The command line as a new user meets it: every subcommand takes --log-level and its help
/// shows an example and the doc to read; --version; arguments that fail say why.
@Suite(.timeLimit(.minutes(10))) struct CommandLineTests {
    static let leaves: [[String]] = [
        ["tail"], ["run"], ["replay"], ["detokenize"], ["schema", "snapshot"], ["schema", "check"], ["schema", "pending"],
        ["check"], ["route", "test"], ["route", "status"], ["dlq", "list"], ["dlq", "show"], ["dlq", "drop"], ["dlq", "retry"], ["results", "list"],
        ["results", "show"], ["schema", "accept"], ["slot", "create"], ["slot", "show"], ["slot", "drop"], ["journal", "inspect"], ["journal", "repair"],
        ["snapshot", "start"], ["status"], ["demo"], ["webhook", "verify"],
    ]

    @Test(arguments: leaves) func everySubcommandHasAnExampleAndTakesLogLevel(_ command: [String]) throws {
        let help = PostgresCluster.run([try pgreflexExecutable()] + command + ["--help"])
        #expect(help.status == 0)
        let example = try #require(help.output.components(separatedBy: "EXAMPLE:\n").dropFirst().first, "\(help.output)")
        #expect(example.prefix(while: { $0 != "\n" }).contains("pgreflex \(command.joined(separator: " "))"), "\(help.output)")
        // Pasted, the example is one command: every line but its last ends with a continuation.
        let lines = example.components(separatedBy: "\n\n")[0].split(separator: "\n")
        #expect(lines.dropLast().allSatisfy { $0.hasSuffix(" \\") } && !(lines.last?.hasSuffix("\\") ?? true), "\(example)")
        #expect(lines.allSatisfy { $0.count <= 80 }, "\(example)")
        #expect(help.output.contains("More: "), "\(help.output)")
        #expect(help.output.contains("--log-level"), "\(help.output)")
    }

    @Test func versionAndArgumentMistakes() throws {
        let exe = try pgreflexExecutable()
        let version = PostgresCluster.run([exe, "--version"])
        #expect(version.status == 0 && version.output.contains("0.1.0"))
        let negative = PostgresCluster.run([exe, "tail", "--dsn", "x", "--slot", "s", "--publication", "p", "--idle-exit", "-1"])
        #expect(negative.status != 0)
        #expect(negative.output.contains("--idle-exit takes a positive number of seconds"), "\(negative.output)")
        // LSNs as events print them (decimal source.lsn) as well as X/Y.
        let decimal = PostgresCluster.run([exe, "replay", "--config", "nowhere.yaml", "--from-lsn", "100", "--to-lsn", "50"])
        #expect(decimal.output.contains("--to-lsn 0/32 is before --from-lsn 0/64"), "\(decimal.output)")
        let badLSN = PostgresCluster.run([exe, "replay", "--config", "nowhere.yaml", "--from-lsn", "0/zz"])
        #expect(badLSN.status != 0)
        #expect(badLSN.output.contains("from-lsn"), "\(badLSN.output)")
    }

    /// Packaging (issue 27, item 15): the Docker context leaves out build products and git, and
    /// every dependency is pinned to a minor version (pgreflex is an application).
    @Test func theImageContextIsTheSourceAndDependenciesArePinned() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let ignore = try String(contentsOf: root.appendingPathComponent(".dockerignore"), encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(ignore.contains(".build*/") && ignore.contains(".git/") && ignore.contains("Package.resolved"), "\(ignore)")
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let packages = manifest.split(separator: "\n").filter { $0.contains(".package(url:") }
        #expect(!packages.isEmpty && packages.allSatisfy { $0.contains(".upToNextMinor(from:") || $0.contains("exact:") }, "\(packages)")
    }
}
