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

    @Option(help: "The schema registry directory: route tables and the columns their conditions read must exist there.")
    var registry: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        global.bootstrapLogging()
        let configuration: RunConfiguration
        var errors: [ConfigurationError] = []
        do {
            configuration = try RunConfiguration.load(config, needsSource: false)
            if let registry {
                try requireRegistry(registry)
                let loaded = try SchemaRegistry(directory: registry)
                errors = configuration.checkRoutes(columnsByTable: loaded.tables.compactMapValues { $0.versions.last?.columns.map(\.name) })
            }
        } catch {
            throw fail(error)
        }
        var standardError = StandardError()
        for error in errors { print("pgreflex: error: \(error)", to: &standardError) }
        guard errors.isEmpty else { throw ExitCode(1) }
        print("\(config): ok: \(configuration.consumers.count) consumers, \(configuration.agents.count) agents, \(configuration.routes.count) routes"
            + (registry.map { ", routes checked against \($0)" } ?? ""))
    }
}
