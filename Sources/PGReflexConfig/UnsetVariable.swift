import PGReflexAgents
import PGReflexTools
import Yams

/// A `*_env` setting whose variable is not set, found by a load that defers the environment
/// (`requireEnvironment: false`): commands that only read state (`status`, `check`, `dlq list`)
/// need no secrets, and `makeAgents` refuses an agent whose own variables are missing.
public struct UnsetVariable: Sendable, Equatable, CustomStringConvertible {
    /// What needs the variable.
    public enum Owner: Sendable, Equatable {
        case source
        case privacy
        case agent(String)
        case tool(String)
    }

    /// The setting's path, e.g. `agents.fraud.webhook.secret_env`.
    public var setting: String
    /// The variable it names.
    public var variable: String
    public var line: Int?
    public var owner: Owner
    /// What to export, e.g. "the connection string".
    public var hint: String

    public var description: String { "\(setting) names \(variable), which is not set: \(hint)" }
}

extension RunConfiguration.Reader {
    /// The value of the variable that `node` names; when unset, an error if the environment is
    /// required, else nil with the gap recorded.
    func variable(_ node: Node, setting: String, owner: UnsetVariable.Owner, hint: String) throws -> String? {
        let name = try string(node, setting)
        if let value = environment[name], !value.isEmpty { return value }
        let unset = UnsetVariable(setting: setting, variable: name, line: RunConfiguration.line(node), owner: owner, hint: hint)
        guard !requireEnvironment else { throw fail(node, unset.description) }
        unsetVariables.found.append(unset)
        return nil
    }

    /// Collects what a deferred load found unset; one per parse, never shared across threads.
    final class UnsetVariables {
        var found: [UnsetVariable] = []
    }
}

extension RunConfiguration {
    /// Throws the first unset variable `owners` need, naming the command's purpose, so that a
    /// command that calls agents fails before it starts, not on the first call.
    public func requireEnvironment(for owners: [UnsetVariable.Owner], purpose: String) throws {
        guard let unset = unsetEnvironment.first(where: { owners.contains($0.owner) }) else { return }
        throw ConfigurationError(file: file, line: unset.line, message: "\(unset) (\(purpose) needs it)")
    }
}

extension RunConfiguration {
    /// What the agents named need from the environment: their own variables, those of the tools
    /// they act or read through, the source's when such a tool uses the source's database, and
    /// the privacy keys when a tool reveals a token.
    public func environmentOwners(ofAgents wanted: Set<String>) -> [UnsetVariable.Owner] {
        var owners: [UnsetVariable.Owner] = []
        for agent in agents where wanted.contains(agent.name) {
            owners.append(.agent(agent.name))
            var used = agent.actions
            if case .llm(let settings) = agent.kind {
                used += settings.readTools
                used += settings.enrich.map { $0.tool }
            }
            for tool in tools where used.contains(tool.name) {
                owners.append(.tool(tool.name))
                if tool.dsn == nil, !tool.isHTTP { owners.append(.source) }
                if tool.parameters.contains(where: \.detokenize) { owners.append(.privacy) }
            }
        }
        return owners
    }
}

extension ToolSettings {
    /// The SQL kinds and emit connect to a database; http does not.
    var isHTTP: Bool {
        if case .http = kind { return true }
        return false
    }
}
