import ArgumentParser
import Foundation
import PGReflexAgents
import PGReflexTools

struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Tools for webhook receivers.",
        subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a saved webhook request: its signature (Standard Webhooks, v1) and that its timestamp is within 5 minutes.",
            discussion: discussion("Exit 0 when it verifies, 1 with the reason when it does not.",
                                   example: "pgreflex webhook verify --secret \"$SECRET\" --header 'webhook-id: 00000000016b3748-00000000' --header 'webhook-timestamp: 1764547200' --header 'webhook-signature: v1,K5o…' --body request.json",
                                   doc: "docs/routing.md (Agents)"))

        @Option(help: "A whsec_ secret; repeat it for several (rotation). Better: --secret-env NAME.")
        var secret: [String] = []

        @Option(help: "The name of an environment variable holding the secrets (space-separated).")
        var secretEnv: String?

        @Option(help: "A request header as 'name: value'; repeat it (webhook-id, webhook-timestamp, webhook-signature).")
        var header: [String] = []

        @Option(help: "The file holding the request's body, byte for byte.")
        var body: String

        @Option(help: "Check the timestamp against this Unix time instead of now (for requests saved earlier).")
        var now: Int?

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try global.run {
                do {
                    var secrets = secret
                    if let secretEnv {
                        guard let value = ProcessInfo.processInfo.environment[secretEnv], !value.isEmpty else {
                            throw ValidationError("--secret-env \(secretEnv): the variable is not set")
                        }
                        secrets += value.split(separator: " ").map(String.init)
                    }
                    guard !secrets.isEmpty else { throw ValidationError("give the receiver's secret: --secret whsec_… or --secret-env NAME") }
                    var headers: [String: String] = [:]
                    for line in header {
                        guard let colon = line.firstIndex(of: ":") else {
                            throw ValidationError("--header '\(line)' is not 'name: value'")
                        }
                        headers[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    }
                    guard let data = FileManager.default.contents(atPath: body) else { throw ValidationError("--body \(body): cannot read the file") }
                    let verifier = try WebhookSignature(secrets: secrets)
                    try verifier.verify(id: headers["webhook-id"], timestamp: headers["webhook-timestamp"], signatures: headers["webhook-signature"],
                                        body: [UInt8](data), now: now.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date())
                    print("verified: webhook-id \(headers["webhook-id"]!)")
                } catch let failure as WebhookSignature.Failure {
                    var standardError = StandardError()
                    print("pgreflex: not verified: \(failure)", to: &standardError)
                    throw ExitCode(1)
                }
            }
        }
    }
}
