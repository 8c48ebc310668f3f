import Foundation
public import PGReflexAgentContract
public import PGReflexPrivacy

/// Carries out a decision's actions (`[{tool, arguments}]`, from an LLM's decision or an
/// `exec` command's outcome), in order, through the configured tools. Action `i` of a call
/// runs under the key `<call key>:<i>`: a retry or a replay finds the receipt of each action
/// already done and skips it. When an action fails for good, the writes already done for the
/// call are undone with their `compensate` statements, newest first, and the call fails.
public struct ActionRunner: Sendable {
    public struct Action: Sendable, Equatable {
        public var tool: String
        /// Text forms (as `ToolInvocation` takes them).
        public var arguments: [String: String?]
    }

    public struct Receipt: Sendable, Equatable {
        public var index: Int
        public var tool: String
        public var idempotencyKey: String
        public var status: ToolReceipt.Status
        public var result: String
        /// Arguments the tool got in the clear (their names; never their values).
        public var detokenized: [String]
    }

    let tools: [String: any Tool]
    let keyring: PrivacyKeyring?

    public init(tools: [String: any Tool], keyring: PrivacyKeyring?) {
        self.tools = tools
        self.keyring = keyring
    }

    /// The `actions` of an outcome, every one checked before any runs: its tool is one of
    /// the agent's write tools, and its `args` (or `arguments`) fit the tool's schema. nil when
    /// the outcome has none (or is not an object).
    public func actions(in output: [UInt8], allowed: [String]) -> Result<[Action], ToolError>? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(output))) as? [String: Any], let list = object["actions"] else { return nil }
        guard let items = list as? [[String: Any]] else {
            return .failure(ToolError(code: .permanent, message: "the outcome's actions must be an array of {tool, args} objects"))
        }
        var actions: [Action] = []
        for (index, item) in items.enumerated() {
            guard let name = item["tool"] as? String, let arguments = (item["args"] ?? item["arguments"]) as? [String: Any] else {
                return .failure(ToolError(code: .permanent, message: "action \(index): each action needs tool (a string) and args (an object)"))
            }
            guard allowed.contains(name), let tool = tools[name] else {
                return .failure(ToolError(code: .permanent, message: "action \(index): \(name) is not one of this agent's actions (\(allowed.joined(separator: ", ")))"))
            }
            guard tool.effect == .write else {
                return .failure(ToolError(code: .permanent, message: "action \(index): \(name) only reads: it is for enrichment, not an action"))
            }
            let names = Set(tool.parameters.map(\.name))
            let unknown = Set(arguments.keys).subtracting(names)
            let missing = names.subtracting(arguments.keys)
            guard unknown.isEmpty, missing.isEmpty else {
                return .failure(ToolError(code: .permanent, message: "action \(index): tools.\(name) takes \(tool.parameters.map(\.name).joined(separator: ", "))"
                                            + (unknown.isEmpty ? "" : "; not \(unknown.sorted().joined(separator: ", "))")
                                            + (missing.isEmpty ? "" : "; missing \(missing.sorted().joined(separator: ", "))")))
            }
            for parameter in tool.parameters {
                if let problem = parameter.mismatch(arguments[parameter.name]!) {
                    return .failure(ToolError(code: .permanent, message: "action \(index): tools.\(name): \(problem)"))
                }
            }
            actions.append(Action(tool: name, arguments: arguments.mapValues(Self.text)))
        }
        return .success(actions)
    }

    /// JSON values as a tool takes them: strings as they are, null as NULL, others as JSON.
    public static func text(_ value: Any) -> String? {
        switch value {
        case is NSNull: return nil
        case let string as String: return string
        default:
            guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Runs checked actions (``actions(in:allowed:)``), in order.
    public func run(_ actions: [Action], callKey: String, causationID: String, cause: AgentCausation.Cause) async -> Result<[Receipt], ToolError> {
        var receipts: [Receipt] = []
        var done: [(tool: any Tool, invocation: ToolInvocation)] = []
        for (index, action) in actions.enumerated() {
            let prepared = invocation(action, key: "\(callKey):\(index)", causationID: causationID, cause: cause)
            guard case .success(let (tool, invocation, revealed)) = prepared else {
                if case .failure(let error) = prepared { return .failure(await compensated(error, done)) }
                continue
            }
            switch await tool.run(invocation) {
            case .success(let receipt):
                receipts.append(Receipt(index: index, tool: tool.name, idempotencyKey: invocation.idempotencyKey, status: receipt.status, result: receipt.result,
                                        detokenized: tool.parameters.filter(\.detokenize).map(\.name)))
                done.append((tool, invocation))
            case .failure(var error):
                // A server's message may quote a value: never one the tool was given in the clear.
                for value in revealed where !value.isEmpty { error.message = error.message.replacingOccurrences(of: value, with: "[detokenized]") }
                error.message = "action \(index) (\(tool.name)): \(error.message)"
                if error.code != .permanent { return .failure(error) }
                return .failure(await compensated(error, done))
            }
        }
        return .success(receipts)
    }

    /// The tool, its invocation, and the values detokenized for it.
    func invocation(_ action: Action, key: String, causationID: String, cause: AgentCausation.Cause) -> Result<(any Tool, ToolInvocation, [String]), ToolError> {
        guard let tool = tools[action.tool] else { return .failure(ToolError(code: .permanent, message: "no tool \(action.tool)")) }
        var arguments = action.arguments
        var revealed: [String] = []
        for parameter in tool.parameters where parameter.detokenize {
            guard let token = arguments[parameter.name] ?? nil else { continue }
            guard let keyring else {
                return .failure(ToolError(code: .permanent, message: "tools.\(tool.name).\(parameter.name) detokenizes, but privacy has no keys"))
            }
            do {
                let value = String(decoding: try keyring.reveal(token), as: UTF8.self)
                arguments[parameter.name] = value
                revealed.append(value)
            } catch {
                return .failure(ToolError(code: .permanent, message: "tools.\(tool.name).\(parameter.name): \(error.message)"))
            }
        }
        return .success((tool, ToolInvocation(arguments: arguments, idempotencyKey: key, causationID: causationID, cause: cause), revealed))
    }

    /// Undoes what the call did, newest first; says so in the error.
    func compensated(_ error: ToolError, _ done: [(tool: any Tool, invocation: ToolInvocation)]) async -> ToolError {
        var error = error
        var undone: [String] = []
        var failed: [String] = []
        for (tool, invocation) in done.reversed() {
            guard let sql = tool as? SQLTool, let result = await sql.compensate(invocation) else { continue }
            switch result {
            case .success: undone.append(tool.name)
            case .failure(let cause): failed.append("\(tool.name) (\(cause.code.rawValue))")
            }
        }
        if !undone.isEmpty { error.message += "; compensated: \(undone.joined(separator: ", "))" }
        if !failed.isEmpty { error.message += "; compensation FAILED for: \(failed.joined(separator: ", ")) (check them by hand)" }
        return error
    }
}
