import ArgumentParser
import Foundation
import PGReflexCapture
import PGReflexConfig
import PGReflexEnvelope
import PGReflexFiles
import PGReflexJournal
import PGReflexPrivacy

#if canImport(Glibc)
import Glibc
#endif

struct DetokenizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Reverse tok:… tokens to their values, with the keys of a configuration's privacy section.",
        discussion: discussion("""
            Prints one line per input line, in order: the value of each token, an empty line for an empty \
            input line or a token that cannot be reversed (with an error on stderr and exit 1), so the \
            output stays line-aligned with the input. Tokens come from the arguments, or one per line on \
            stdin. Any key the keyring holds reverses its own tokens, so tokens made before a rotation \
            still work while their key is kept. hash:… pseudonyms cannot be reversed.
            """, example: "jq -r .after.email events.jsonl | pgreflex detokenize --config run.yaml", doc: "docs/privacy.md"))

    @Option(help: "A YAML file with a privacy section (the run configuration).")
    var config: String

    @Argument(help: "Tokens (default: read from stdin, one per line).")
    var tokens: [String] = []

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try global.run {
            let keyring: PrivacyKeyring
            guard let loaded = try RunConfiguration.loadPrivacy(config).keyring else {
                throw ValidationError("\(config): privacy has no keys section, so there is nothing to detokenize with")
            }
            keyring = loaded
            var input = tokens
            if input.isEmpty {
                while let line = readLine() { input.append(line) }
            }
            var failures = 0
            var standardError = StandardError()
            for (n, token) in input.enumerated() {
                let trimmed = token.trimmingCharacters(in: .whitespaces)
                var value: [UInt8] = []
                if !trimmed.isEmpty {
                    do {
                        value = try keyring.reveal(trimmed)
                    } catch {
                        // The token itself is not echoed: a damaged token may still hold most of a value.
                        failures += 1
                        print("pgreflex: error: line \(n + 1): \(error)", to: &standardError)
                    }
                }
                value.append(UInt8(ascii: "\n"))
                try FileDescriptorWriter.standardOutput.write(value)
            }
            if failures > 0 { throw ExitCode(1) }
        }
    }
}
