public import Foundation
public import PGReflexAgentContract

/// What an agent's decision may act through: a named, typed tool. Read tools (`sql_query`)
/// enrich a prompt and change nothing; write tools (`sql_exec`, `emit`, `http`) act, each run
/// under an idempotency key, so a retry, a replay or a crash never acts twice, and each leaves
/// a receipt.
public protocol Tool: Sendable {
    var name: String { get }
    var effect: ToolEffect { get }
    /// The arguments it takes, in order (`$1`, `$2`, … for SQL).
    var parameters: [ToolParameter] { get }
    func run(_ invocation: ToolInvocation) async -> Result<ToolReceipt, ToolError>
}

public enum ToolEffect: String, Sendable {
    case read
    case write
}

public struct ToolParameter: Sendable, Equatable {
    /// JSON Schema's types, which an argument is checked against before any action runs.
    public enum ValueType: String, Sendable, CaseIterable {
        /// Any JSON value but null: what a parameter given only by name takes.
        case any
        case string, integer, number, boolean, object, array
    }

    public var name: String
    public var type: ValueType
    /// May be null (SQL NULL).
    public var nullable: Bool
    /// The only values allowed (strings), when given: a category, a status.
    public var values: [String]?
    /// The argument is a privacy token (`tok:…`): the tool gets the value it stands for, just
    /// before it runs. The model and the agent only ever see the token.
    public var detokenize: Bool

    public init(name: String, type: ValueType = .any, nullable: Bool = false, detokenize: Bool = false) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.detokenize = detokenize
    }

    /// The JSON Schema of a tool's arguments: these names, these types, nothing else.
    public static func schema(_ parameters: [ToolParameter]) -> [String: Any] {
        var properties: [String: Any] = [:]
        for parameter in parameters {
            if let values = parameter.values {
                properties[parameter.name] = ["type": "string", "enum": values]
                continue
            }
            switch (parameter.type, parameter.nullable) {
            case (.any, true): properties[parameter.name] = [String: Any]()
            case (.any, false): properties[parameter.name] = ["type": ["string", "number", "boolean", "object", "array"]]
            case (let type, true): properties[parameter.name] = ["type": [type.rawValue, "null"]]
            case (let type, false): properties[parameter.name] = ["type": type.rawValue]
            }
            if parameter.type == .integer, var property = properties[parameter.name] as? [String: Any] {
                // JSON-safe integers; the bounds also keep a grammar-constrained model from
                // writing digits until max_tokens.
                property["minimum"] = -9_007_199_254_740_991
                property["maximum"] = 9_007_199_254_740_991
                properties[parameter.name] = property
            }
        }
        return ["type": "object", "additionalProperties": false, "required": parameters.map(\.name), "properties": properties]
    }

    /// Why a JSON value does not fit, or nil.
    public func mismatch(_ value: Any) -> String? {
        if value is NSNull { return nullable ? nil : "\(name) may not be null" }
        if let values {
            return (value as? String).map(values.contains) == true ? nil : "\(name) must be one of \(values.joined(separator: ", "))"
        }
        let fits: Bool = switch type {
        case .any: true
        case .string: value is String
        case .integer: (value as? NSNumber).map { !Self.isBool($0) && $0.doubleValue.rounded() == $0.doubleValue } ?? false
        case .number: (value as? NSNumber).map { !Self.isBool($0) } ?? false
        case .boolean: (value as? NSNumber).map(Self.isBool) ?? false
        case .object: value is [String: Any]
        case .array: value is [Any]
        }
        return fits ? nil : "\(name) must be \(type == .integer || type == .array || type == .object ? "an" : "a") \(type.rawValue)"
    }

    /// JSONSerialization's booleans are NSNumbers too; they print as true/false.
    public static func isBool(_ number: NSNumber) -> Bool {
        let text = String(decoding: (try? JSONSerialization.data(withJSONObject: number, options: [.fragmentsAllowed])) ?? Data(), as: UTF8.self)
        return text == "true" || text == "false"
    }
}

/// One run of a tool.
public struct ToolInvocation: Sendable {
    /// Argument values as text (JSON numbers and booleans as written; objects as JSON); nil
    /// is SQL NULL. Already detokenized where the parameter says so.
    public var arguments: [String: String?]
    /// `<call key>:<action index>`: the same on every retry and replay of the call.
    public var idempotencyKey: String
    /// The event that caused it.
    public var causationID: String
    /// Who its writes are committed as (``AgentCausation``): the acting agent, one deeper
    /// than the deepest event of the call.
    public var cause: AgentCausation.Cause

    public init(arguments: [String: String?], idempotencyKey: String, causationID: String,
                cause: AgentCausation.Cause = .init(depth: 1, agent: "")) {
        self.arguments = arguments
        self.idempotencyKey = idempotencyKey
        self.causationID = causationID
        self.cause = cause
    }

    /// The values in the tool's parameter order.
    func values(for parameters: [ToolParameter]) -> [String?] {
        parameters.map { arguments[$0.name] ?? nil }
    }
}

/// What a run did: the proof it happened once.
public struct ToolReceipt: Sendable, Equatable {
    public enum Status: String, Sendable {
        /// It ran now.
        case done
        /// Its idempotency key was already recorded: it ran before (a retry, a replay), and
        /// did not run again.
        case alreadyDone = "already_done"
        /// Side effects were off (`trace record`, `trace verify`): it did not run.
        case simulated
    }

    public var status: Status
    /// The tool's answer (rows, an HTTP status, a message's LSN), JSON.
    public var result: String

    public init(status: Status, result: String) {
        self.status = status
        self.result = result
    }
}

/// Why a tool run failed, classified as the dispatcher's errors are.
public struct ToolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: AgentError.Code
    public var message: String

    public init(code: AgentError.Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
