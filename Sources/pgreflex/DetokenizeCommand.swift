import ArgumentParser
import Foundation
import PGReflexCore
import PGReflexPrivacy

#if canImport(Glibc)
import Glibc
#endif

struct DetokenizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Reverse tok:… tokens to their values, with the keys of a configuration's privacy section.",
        discussion: """
            Prints one value per token, in order. Tokens come from the arguments, or one per line on stdin. \
            Any key the keyring holds reverses its own tokens, so tokens made before a rotation still work \
            while their key is kept. hash:… pseudonyms cannot be reversed.
            """)

    @Option(help: "A YAML file with a privacy section (the run configuration).")
    var config: String

    @Argument(help: "Tokens (default: read from stdin, one per line).")
    var tokens: [String] = []

    func run() async throws {
        let keyring: PrivacyKeyring
        do {
            guard let loaded = try RunConfiguration.loadPrivacy(config).keyring else {
                throw ValidationError("\(config): privacy has no keys section, so there is nothing to detokenize with")
            }
            keyring = loaded
        } catch {
            throw fail(error)
        }
        var input = tokens
        if input.isEmpty {
            while let line = readLine() { if !line.isEmpty { input.append(line) } }
        }
        var failures = 0
        var standardError = StandardError()
        for (n, token) in input.enumerated() {
            do {
                var value = try keyring.reveal(token.trimmingCharacters(in: .whitespaces))
                value.append(UInt8(ascii: "\n"))
                try FileDescriptorWriter.standardOutput.write(value)
            } catch {
                // The token itself is not echoed: a damaged token may still hold most of a value.
                failures += 1
                print("pgreflex: error: token \(n + 1): \(error)", to: &standardError)
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
