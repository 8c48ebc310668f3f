import ArgumentParser
import Foundation
import PGReflexConfig
import PGReflexDelivery
import PGReflexRouter
import PGReflexRuntime
import PGReflexState
import PGReflexWire

struct RouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Try the configured routes on events, and see where each stands.",
        subcommands: [Test.self, Status.self])

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print which routes an event wakes, and for each route that it does not, which test said no.",
            discussion: discussion("EVENT.json holds a Debezium envelope as pgreflex writes it (one per line for several), for example a line of a sink file.",
                                   example: "pgreflex route test --config run.yaml --event order.json", doc: "docs/routing.md"))

        @Option(help: "The YAML configuration file.")
        var config: String

        @Option(help: "A file with one envelope, or one per line.")
        var event: String

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try global.run {
                let configuration = try RunConfiguration.load(config, requireEnvironment: false)
                guard !configuration.routes.isEmpty else { throw ValidationError("\(config) has no routes: section to test") }
                guard let data = FileManager.default.contents(atPath: event) else {
                    throw ValidationError("--event \(event): cannot read the file")
                }
                let lines = data.split(separator: UInt8(ascii: "\n")).filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x0D } }
                for (number, line) in lines.enumerated() {
                    let judged: RouteVerdicts?
                    do {
                        judged = try configuration.verdicts(for: line)
                    } catch {
                        throw ValidationError("--event \(event): line \(number + 1) is not a JSON envelope")
                    }
                    guard let judged else {
                        throw ValidationError("--event \(event): line \(number + 1) has no source.schema, source.table and op: is it a pgreflex envelope?")
                    }
                    if lines.count > 1 { print("event \(number + 1) (\(judged.op) on \(judged.table)):") }
                    for (route, verdict) in judged.verdicts {
                        print("\(route)\t\(verdict == .matches ? "matches" : "no: \(verdict)")")
                    }
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each route's cursor, dead letters, events in open windows, and skipped events by reason.",
            discussion: discussion("Reads the state store only: it can run while `pgreflex run` does.",
                                   example: "pgreflex route status --config run.yaml", doc: "docs/routing.md"))

        @Option(help: "The YAML configuration file.")
        var config: String

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run {
                let configuration = try RunConfiguration.load(config, requireEnvironment: false)
                guard !configuration.routes.isEmpty else { throw ValidationError("\(config) has no routes: section") }
                guard let store = try SQLiteStateStore.openExisting(directory: configuration.stateDirectory) else {
                    print("no state store in \(configuration.stateDirectory) (state.directory): no route has run with this configuration")
                    return
                }
                let skips = try await store.skipCounts(route: nil)
                print("route\tagent\tposition\tdead_letters\tin_windows\tskipped")
                for route in configuration.routes {
                    let cursor = try await store.cursor(route.consumerName)
                    let position = cursor.map { $0.commitLSN == 0 ? "start" : "\(LSN($0.commitLSN))#\($0.ordinal)" } ?? "not started"
                    let letters = try await store.deadLetters(DeadLetterFilter(route: route.name)).count
                    let windows = try await store.windowEntries(route: route.name).count
                    let skipped = skips.filter { $0.route == route.name }.map { "\($0.reason)=\($0.count)" }.joined(separator: ",")
                    print("\(route.name)\t\(route.agent)\t\(position)\t\(letters)\t\(windows)\t\(skipped.isEmpty ? "-" : skipped)")
                }
            }
        }
    }
}
