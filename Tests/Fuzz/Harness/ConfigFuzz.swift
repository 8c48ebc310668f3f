#if DEBUG
import PGReflexAgents
import PGReflexConfig
import PGReflexDelivery
import PGReflexJournal
import PGReflexRouter

/// The YAML configuration: any text either loads or is a `ConfigurationError` naming its place,
/// loading is deterministic, and what loads can be checked.
enum ConfigFuzz {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        func load() throws -> RunConfiguration {
            try RunConfiguration.parse(text, file: Scratch.directory + "/fuzz.yaml", environment: ["PATH": "/usr/bin:/bin"], requireEnvironment: false)
        }
        do {
            let first = try load()
            let again = try load()
            require(first.routes.map(\.name) == again.routes.map(\.name) && first.agents.map(\.name) == again.agents.map(\.name)
                        && first.consumers.map(\.name) == again.consumers.map(\.name) && first.unsetEnvironment == again.unsetEnvironment,
                    "loading the same text twice gave two configurations")
            _ = first.check()
        } catch let error as ConfigurationError {
            require(!error.message.isEmpty, "an error without a message")
        } catch {
            require(false, "\(type(of: error)) escaped the loader: \(error)")
        }
    }
}
#endif
