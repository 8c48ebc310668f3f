import Foundation
import PGReflexAgents
import PGReflexJournal
import PGReflexTools
import PGReflexWire
import Yams

/// `tools:`, the typed tools agents act and read through.
extension AgentsSection {
    /// `tools:`, a mapping of tool names to one kind: `sql_query: { query, parameters,
    /// protect_as }`, `sql_exec: { statement, parameters, compensate }`, `emit: { prefix,
    /// parameters }` or `http: { url, parameters, timeout, secret_env }`; the SQL kinds take `dsn_env`
    /// (default: the source's database). A parameter is a name (any JSON value), or `{ name,
    /// type, nullable, values, detokenize }`; actions are checked against these before any runs.
    func tools(_ node: Node) throws -> [ToolSettings] {
        guard case .mapping(let entries) = node else {
            throw reader.fail(node, "tools must map each tool's name to its kind, e.g. flag_order: { sql_exec: { statement: \"UPDATE …\", parameters: [order_id] } }")
        }
        var tools: [ToolSettings] = []
        for (keyNode, value) in entries {
            let name = try reader.string(keyNode, "tools")
            guard ConsumerSettings.isValidName(name) else { throw reader.fail(keyNode, "tools: '\(name)' is not a tool name: use letters, digits, _ and -") }
            let key = "tools.\(name)"
            let kinds = ["sql_query", "sql_exec", "emit", "http"]
            let section = try reader.mapping(value, key, keys: kinds)
            let present = kinds.filter { section[$0] != nil }
            guard present.count == 1, let kindName = present.first, let body = section[kindName] else {
                throw reader.fail(value, "\(key) needs exactly one kind: sql_query, sql_exec, emit or http")
            }
            let path = "\(key).\(kindName)"
            let extra: [String] = switch kindName {
            case "sql_query": ["query", "protect_as", "dsn_env", "pool"]
            case "sql_exec": ["statement", "compensate", "dsn_env", "pool"]
            case "emit": ["prefix", "dsn_env", "pool"]
            default: ["url", "timeout", "secret_env"]
            }
            let fields = try reader.mapping(body, path, keys: extra + ["parameters"])
            var parameters: [ToolParameter] = []
            if let n = fields["parameters"] {
                guard case .sequence(let items) = n else { throw reader.fail(n, "\(path).parameters must list argument names, in $1, $2 … order") }
                for item in items {
                    if case .mapping = item {
                        let p = try reader.mapping(item, "\(path).parameters", keys: ["name", "type", "nullable", "values", "detokenize"])
                        var parameter = ToolParameter(name: try reader.string(try reader.required(p, "name", in: item, section: "\(path).parameters"), "\(path).parameters.name"))
                        if let t = p["type"] {
                            guard let type = ToolParameter.ValueType(rawValue: try reader.string(t, "\(path).parameters.type")) else {
                                throw reader.fail(t, "\(path).parameters.type must be one of \(ToolParameter.ValueType.allCases.map(\.rawValue).joined(separator: ", "))")
                            }
                            parameter.type = type
                        }
                        parameter.nullable = try p["nullable"].map { try reader.bool($0, "\(path).parameters.nullable") } ?? false
                        if let v = p["values"] {
                            guard case .sequence(let items) = v, !items.isEmpty else { throw reader.fail(v, "\(path).parameters.values must list the allowed strings") }
                            parameter.values = try items.map { try reader.string($0, "\(path).parameters.values") }
                        }
                        parameter.detokenize = try p["detokenize"].map { try reader.bool($0, "\(path).parameters.detokenize") } ?? false
                        parameters.append(parameter)
                    } else {
                        parameters.append(ToolParameter(name: try reader.string(item, "\(path).parameters")))
                    }
                }
            }
            var dsn: String?
            if let n = fields["dsn_env"] {
                dsn = try reader.variable(n, setting: "\(path).dsn_env", owner: .tool(name), hint: "export the connection string") ?? ""
            }
            let kind: ToolSettings.Kind
            switch kindName {
            case "sql_query":
                var table: TableName?
                if let n = fields["protect_as"] {
                    let text = try reader.string(n, "\(path).protect_as")
                    guard let parsed = TableName(parsing: text) else { throw reader.fail(n, "\(path).protect_as: '\(text)' is not schema.table") }
                    table = parsed
                }
                kind = .sqlQuery(query: try reader.string(try reader.required(fields, "query", in: body, section: path), "\(path).query"), protectAs: table)
            case "sql_exec":
                kind = .sqlExec(statement: try reader.string(try reader.required(fields, "statement", in: body, section: path), "\(path).statement"),
                                compensate: try fields["compensate"].map { try reader.string($0, "\(path).compensate") })
            case "emit":
                if let revealing = parameters.first(where: \.detokenize), let node = fields["parameters"] {
                    // Revealing is for a value on its way out of pgreflex; an emitted message comes back in.
                    throw reader.fail(node, "\(path).parameters.\(revealing.name): detokenize is refused for emit: an emitted message is written "
                        + "to the WAL, and from there into the journal and to every consumer and route, so the plaintext would leave "
                        + "privacy's protection. Emit the token, and reveal it where it leaves (an http or sql_exec tool)")
                }
                kind = .emit(prefix: try reader.string(try reader.required(fields, "prefix", in: body, section: path), "\(path).prefix"))
            default:
                let urlNode = try reader.required(fields, "url", in: body, section: path)
                let url = try reader.string(urlNode, "\(path).url")
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                    throw reader.fail(urlNode, "\(path).url must be an http:// or https:// URL")
                }
                var secrets: [String] = []
                if let node = fields["secret_env"],
                   let value = try reader.variable(node, setting: "\(path).secret_env", owner: .tool(name), hint: "export it (whsec_… secrets, space-separated)") {
                    secrets = value.split(separator: " ").map(String.init)
                    guard (try? WebhookSignature(secrets: secrets)) != nil else {
                        throw reader.fail(node, "\(path).secret_env: \(try reader.string(node, "\(path).secret_env")) holds a secret that is not whsec_ followed by base64")
                    }
                }
                kind = .http(url: url, timeout: try fields["timeout"].map { try reader.duration($0, "\(path).timeout") } ?? .seconds(15), secrets: secrets)
            }
            var pool = 4
            if let node = fields["pool"] {
                pool = try reader.positiveInt(node, "\(path).pool")
                guard pool <= 64 else { throw reader.fail(node, "\(path).pool is \(pool): a tool opens at most 64 sessions; a few are enough (the default is 4)") }
            }
            tools.append(ToolSettings(name: name, kind: kind, parameters: parameters, dsn: dsn, pool: pool))
        }
        return tools
    }
}
