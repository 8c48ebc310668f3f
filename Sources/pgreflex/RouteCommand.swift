import ArgumentParser
import Foundation
import PGReflexConfig
import PGReflexDelivery
import PGReflexRouter

struct RouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Try the configured routes on events.",
        subcommands: [Test.self])

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
            global.bootstrapLogging()
            do {
                let configuration = try RunConfiguration.load(config, needsSource: false)
                guard !configuration.routes.isEmpty else { throw ValidationError("\(config) has no routes: section to test") }
                guard let data = FileManager.default.contents(atPath: event) else {
                    throw ValidationError("--event \(event): cannot read the file")
                }
                let lines = data.split(separator: UInt8(ascii: "\n")).filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x0D } }
                for (number, line) in lines.enumerated() {
                    let activation: CELActivation
                    do {
                        activation = try CELValue.activation(envelope: line)
                    } catch {
                        throw ValidationError("--event \(event): line \(number + 1) is not a JSON envelope")
                    }
                    guard case .string(let table) = activation["table"], case .string(let op) = activation["op"] else {
                        throw ValidationError("--event \(event): line \(number + 1) has no source.schema, source.table and op: is it a pgreflex envelope?")
                    }
                    if lines.count > 1 { print("event \(number + 1) (\(op) on \(table)):") }
                    for route in configuration.routes.map(\.route) {
                        let verdict = route.verdict(table: table, op: op) { activation }
                        print("\(route.name)\t\(verdict == .matches ? "matches" : "no: \(verdict)")")
                    }
                }
            } catch {
                throw fail(error)
            }
        }
    }
}
