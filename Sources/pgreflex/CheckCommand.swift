import ArgumentParser
import Foundation
import PGReflexConfig
import PGReflexSchema

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a configuration file without connecting to anything; with --registry, check every route against the registered table schemas.",
        discussion: discussion("Exits 1 and lists every mistake (file:line:column, what is wrong and how to fix it). For CI: run it next to `schema check`.",
                               example: "pgreflex check --config run.yaml --registry Schemas", doc: "docs/routing.md"))

    @Option(help: "The YAML configuration file.")
    var config: String

    @Option(help: "The schema registry directory: route tables and the columns their conditions read must exist there, at the version the stream is on.")
    var registry: String?

    @Flag(help: "Fail on a *_env setting whose variable is not set (for the CI that holds the secrets); without it, that is a warning.")
    var requireEnv = false

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try global.run {
            let configuration: RunConfiguration
            let report: CheckReport
            configuration = try RunConfiguration.load(config, requireEnvironment: false)
            var current: [String: SchemaRegistry.Current]?
            if let registry {
                try requireRegistry(registry)
                current = try SchemaRegistry(directory: registry).currentTables
            }
            report = configuration.check(registry: current, requireEnvironment: requireEnv)
            var standardError = StandardError()
            for warning in report.warnings { print("pgreflex: warning: \(warning)", to: &standardError) }
            for error in report.errors { print("pgreflex: error: \(error)", to: &standardError) }
            guard report.errors.isEmpty else { throw ExitCode(1) }
            print("\(config): ok: \(configuration.consumers.count) consumers, \(configuration.agents.count) agents, \(configuration.routes.count) routes"
                + (registry.map { ", routes checked against \($0)" } ?? "")
                + (report.warnings.isEmpty ? "" : ", \(report.warnings.count) warning\(report.warnings.count == 1 ? "" : "s")"))
        }
    }
}
