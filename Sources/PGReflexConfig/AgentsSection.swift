import Foundation
import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexFiles
import PGReflexJournal
import PGReflexRouter
import PGReflexTools
import PGReflexWire
import Yams

/// `tools:` and `agents:`: each kind's settings, the tools an agent may act through, its limits.
struct AgentsSection {
    let reader: RunConfiguration.Reader

    /// `webhook: { url, secret_env, timeout, format }`: the secrets (`whsec_…`, space-separated for
    /// rotation) come from the environment, never from the file.
    func webhook(_ node: Node, key: String, agent: String) throws -> WebhookAgent.Settings {
        let fields = try reader.mapping(node, key, keys: ["url", "secret_env", "timeout", "format"])
        let urlNode = try reader.required(fields, "url", in: node, section: key)
        let url = try reader.string(urlNode, "\(key).url")
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw reader.fail(urlNode, "\(key).url must be an http:// or https:// URL")
        }
        var settings = WebhookAgent.Settings(url: url)
        if let node = fields["secret_env"],
           let value = try reader.variable(node, setting: "\(key).secret_env", owner: .agent(agent), hint: "export it (whsec_… secrets, space-separated)") {
            let name = try reader.string(node, "\(key).secret_env")
            settings.secrets = value.split(separator: " ").map(String.init)
            guard (try? WebhookSignature(secrets: settings.secrets)) != nil else {
                throw reader.fail(node, "\(key).secret_env: \(name) holds a secret that is not whsec_ followed by base64")
            }
        }
        if let n = fields["timeout"] { settings.timeout = try reader.duration(n, "\(key).timeout") }
        if let n = fields["format"] {
            guard let format = WebhookAgent.Settings.Format(rawValue: try reader.string(n, "\(key).format")) else {
                throw reader.fail(n, "\(key).format must be debezium (the envelope as it is) or cloudevents (CloudEvents 1.0, structured)")
            }
            settings.format = format
        }
        return settings
    }

    /// `exec: { command, env, pass_env, working_directory, timeout }`. The command is a list (no
    /// shell); a program without `/` must be in PATH. It runs in the config file's directory
    /// unless `working_directory` says otherwise. `pass_env` copies named variables from
    /// pgreflex's environment, so secrets stay out of the file.
    func exec(_ node: Node, key: String, agent: String) throws -> ExecAgent.Settings {
        let fields = try reader.mapping(node, key, keys: ["command", "env", "pass_env", "working_directory", "timeout"])
        let commandNode = try reader.required(fields, "command", in: node, section: key)
        var command: [String]
        if case .sequence(let items) = commandNode {
            command = try items.map { try reader.string($0, "\(key).command") }
        } else {
            command = [try reader.string(commandNode, "\(key).command")]
        }
        guard let program = command.first, !program.isEmpty else {
            throw reader.fail(commandNode, "\(key).command is empty: give the program and its arguments, e.g. [python3, agents/classify.py]")
        }
        if program.contains("/") {
            command[0] = reader.path(program)
            guard FileManager.default.isExecutableFile(atPath: command[0]) else {
                throw reader.fail(commandNode, "\(key).command: \(command[0]) is not an executable file: check the path (relative to the config file) and chmod +x")
            }
        } else {
            let searched = (reader.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
            guard searched.contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/\(program)") }) else {
                throw reader.fail(commandNode, "\(key).command: \(program) is not in PATH: install it, or give its full path")
            }
        }
        // Relative arguments mean what they say next to the config file, as its paths do.
        var settings = ExecAgent.Settings(command: command, workingDirectory: reader.path("."))
        if let node = fields["env"] {
            guard case .mapping(let entries) = node else { throw reader.fail(node, "\(key).env must map names to values, e.g. { MODE: strict }") }
            for (name, value) in entries {
                settings.environment[try reader.string(name, "\(key).env")] = try reader.string(value, "\(key).env")
            }
        }
        if let node = fields["pass_env"] {
            guard case .sequence(let items) = node else { throw reader.fail(node, "\(key).pass_env must list variable names, e.g. [OPENAI_API_KEY]") }
            for item in items {
                let name = try reader.string(item, "\(key).pass_env")
                if let value = try reader.variable(item, setting: "\(key).pass_env", owner: .agent(agent), hint: "export it, or remove it from the list") {
                    settings.environment[name] = value
                }
            }
        }
        if let n = fields["working_directory"] { settings.workingDirectory = reader.path(try reader.string(n, "\(key).working_directory")) }
        if let n = fields["timeout"] { settings.timeout = try reader.duration(n, "\(key).timeout") }
        return settings
    }

    /// `llm: { base_url | base_url_env, model, api_key_env, system | system_file, prompt | prompt_file,
    /// decision, actions, temperature, max_tokens, token_budget, max_steps, timeout }`. Templates
    /// are parsed here, so a broken one fails `check`, not the first call.
    func llm(_ node: Node, key: String, agent: String) throws -> LLMAgent.Settings {
        let fields = try reader.mapping(node, key, keys: ["base_url", "base_url_env", "model", "api_key_env", "system", "system_file", "prompt", "prompt_file",
                                                   "decision", "enrich", "tools", "min_actions", "temperature", "max_tokens", "token_budget", "max_steps", "timeout"])
        var url: String
        if let n = fields["base_url_env"] {
            // Unset (and deferred), a placeholder that passes the check below: the agent is never made.
            url = try reader.variable(n, setting: "\(key).base_url_env", owner: .agent(agent),
                               hint: "export the model server's URL, e.g. http://127.0.0.1:8080/v1") ?? "http://unset.invalid/v1"
        } else {
            url = try reader.string(try reader.required(fields, "base_url", in: node, section: key), "\(key).base_url")
        }
        let urlNode = fields["base_url"] ?? fields["base_url_env"]!
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw reader.fail(urlNode, "\(key).base_url must be an http:// or https:// URL up to the API version, e.g. http://127.0.0.1:8080/v1")
        }
        let model = try reader.string(try reader.required(fields, "model", in: node, section: key), "\(key).model")
        var settings = LLMAgent.Settings(baseURL: url, model: model)
        if let n = fields["api_key_env"] {
            settings.apiKey = try reader.variable(n, setting: "\(key).api_key_env", owner: .agent(agent), hint: "export the API key")
        }
        if let text = try llmTemplate(fields, "system", key: key) { settings.system = text }
        if let text = try llmTemplate(fields, "prompt", key: key) { settings.prompt = text }
        if let n = fields["decision"] {
            guard let decision = LLMAgent.Settings.Decision(rawValue: try reader.string(n, "\(key).decision")) else {
                throw reader.fail(n, "\(key).decision must be json_schema (strict JSON output) or tools (the model calls a decide tool)")
            }
            settings.decision = decision
        }
        if let n = fields["tools"] {
            guard case .sequence(let items) = n else { throw reader.fail(n, "\(key).tools must list read tools the model may call, e.g. [recent_orders]") }
            settings.readTools = try items.map { try reader.string($0, "\(key).tools") }
        }
        if let n = fields["enrich"] {
            guard case .sequence(let items) = n else { throw reader.fail(n, "\(key).enrich must list read tools to run first, e.g. [{ tool: recent_orders, arguments: { customer_id: \"{{event.after.customer_id}}\" } }]") }
            for item in items {
                let entry = try reader.mapping(item, "\(key).enrich", keys: ["tool", "arguments"])
                let tool = try reader.string(try reader.required(entry, "tool", in: item, section: "\(key).enrich"), "\(key).enrich.tool")
                var arguments: [String: String] = [:]
                if let a = entry["arguments"] {
                    guard case .mapping(let pairs) = a else { throw reader.fail(a, "\(key).enrich.arguments must map parameter names to templates") }
                    for (name, value) in pairs {
                        let text = try reader.string(value, "\(key).enrich.arguments")
                        do {
                            try LLMAgent.validate(template: text, setting: "\(key).enrich.arguments")
                        } catch {
                            throw reader.fail(value, error.message)
                        }
                        let parameter = try reader.string(name, "\(key).enrich.arguments")
                        arguments[parameter] = text
                        reader.marks.found["\(key).enrich.\(tool).\(parameter)"] = reader.expressionMark(value)
                    }
                }
                settings.enrich.append(LLMAgent.Enrichment(tool: tool, arguments: arguments))
            }
        }
        if let n = fields["temperature"] {
            guard let value = Double(try reader.string(n, "\(key).temperature")), value >= 0, value <= 2 else {
                throw reader.fail(n, "\(key).temperature must be a number from 0 to 2")
            }
            settings.temperature = value
        }
        if let n = fields["max_tokens"] { settings.maxTokens = try reader.positiveInt(n, "\(key).max_tokens") }
        if let n = fields["min_actions"] { settings.minActions = try reader.positiveInt(n, "\(key).min_actions") }
        if let n = fields["token_budget"] { settings.tokenBudget = try reader.positiveInt(n, "\(key).token_budget") }
        if let n = fields["max_steps"] { settings.maxSteps = try reader.positiveInt(n, "\(key).max_steps") }
        if let n = fields["timeout"] { settings.timeout = try reader.duration(n, "\(key).timeout") }
        return settings
    }

    /// An LLM agent's template, inline or from `<setting>_file`, parsed to check it.
    func llmTemplate(_ fields: [String: Node], _ setting: String, key: String) throws -> String? {
        let inline = fields[setting]
        let file = fields[setting + "_file"]
        var text: String?
        if inline != nil, let file { throw reader.fail(file, "\(key): give \(setting) or \(setting)_file, not both") }
        if let inline { text = try reader.string(inline, "\(key).\(setting)") }
        if let file {
            let location = reader.path(try reader.string(file, "\(key).\(setting)_file"))
            switch BoundedFile.text(location, limit: 1 << 20) {
            case .success(let contents): text = contents
            case .failure(.unreadable): throw reader.fail(file, "\(key).\(setting)_file: cannot read \(location): check the path (relative to the config file)")
            case .failure(let failure): throw reader.fail(file, "\(key).\(setting)_file: \(location) " + failure.message)
            }
        }
        guard let text, let node = inline ?? file else { return nil }
        if let inline {
            reader.marks.found["\(key).\(setting)"] = reader.expressionMark(inline)
        } else if let file {
            reader.marks.found["\(key).\(setting)"] = RunConfiguration.ExpressionMark(line: 1, column: 1, file: reader.path(try reader.string(file, "\(key).\(setting)_file")))
        }
        do {
            try LLMAgent.validate(template: text, setting: "\(key).\(setting)")
        } catch {
            throw reader.fail(node, error.message)
        }
        return text
    }

    /// `agents:`, a mapping of agent names to one kind (`file`, `log`, `noop`) and an optional
    /// `circuit_breaker: {failures, cool_down}`.
    func agents(_ node: Node, tools: [ToolSettings]) throws -> [AgentSettings] {
        guard case .mapping(let entries) = node else {
            throw reader.fail(node, "agents must map each agent's name to its kind, e.g. audit: { file: { path: ./audit.jsonl } }")
        }
        var agents: [AgentSettings] = []
        for (keyNode, value) in entries {
            let name = try reader.string(keyNode, "agents")
            guard ConsumerSettings.isValidName(name) else {
                throw reader.fail(keyNode, "agents: '\(name)' is not an agent name: use letters, digits, _ and -")
            }
            let key = "agents.\(name)"
            let section = try reader.mapping(value, key, keys: ["file", "log", "noop", "webhook", "exec", "llm", "circuit_breaker", "actions", "action_limits"])
            let kinds = ["file", "log", "noop", "webhook", "exec", "llm"].filter { section[$0] != nil }
            guard kinds.count == 1 else {
                throw reader.fail(value, "\(key) needs exactly one kind: webhook: { url, secret_env }, exec: { command }, llm: { base_url, model }, file: { path }, log: { level }, or noop: { delay }" + (kinds.count > 1 ? " (it has \(kinds.joined(separator: " and ")))" : ""))
            }
            let kind: AgentSettings.Kind
            switch kinds[0] {
            case "file":
                let fields = try reader.mapping(section["file"]!, "\(key).file", keys: ["path"])
                kind = .file(path: reader.path(try reader.string(try reader.required(fields, "path", in: section["file"]!, section: "\(key).file"), "\(key).file.path")),
                             setting: "\(key).file.path")
            case "webhook":
                kind = .webhook(try webhook(section["webhook"]!, key: "\(key).webhook", agent: name))
            case "exec":
                kind = .exec(try exec(section["exec"]!, key: "\(key).exec", agent: name))
            case "llm":
                kind = .llm(try llm(section["llm"]!, key: "\(key).llm", agent: name))
            case "log":
                var level = Logger.Level.info
                if case .mapping = section["log"]! {
                    let fields = try reader.mapping(section["log"]!, "\(key).log", keys: ["level"])
                    if let node = fields["level"] {
                        guard let parsed = Logger.Level(rawValue: try reader.string(node, "\(key).log.level")) else {
                            throw reader.fail(node, "\(key).log.level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
                        }
                        level = parsed
                    }
                }
                kind = .log(level: level)
            default:
                var delay: Duration?
                if case .mapping = section["noop"]! {
                    let fields = try reader.mapping(section["noop"]!, "\(key).noop", keys: ["delay"])
                    delay = try fields["delay"].map { try reader.duration($0, "\(key).noop.delay") }
                }
                kind = .noop(delay: delay)
            }
            var agent = AgentSettings(name: name, kind: kind)
            if let n = section["actions"] {
                guard case .sequence(let items) = n else { throw reader.fail(n, "\(key).actions must list the tools its decisions may act through, e.g. [flag_order]") }
                for item in items {
                    let tool = try reader.string(item, "\(key).actions")
                    guard let found = tools.first(where: { $0.name == tool }) else {
                        throw reader.fail(item, "\(key).actions: no tool named \(tool) (tools: \(tools.map(\.name).joined(separator: ", ")))")
                    }
                    guard found.effect == .write else { throw reader.fail(item, "\(key).actions: \(tool) only reads: list it under llm.enrich") }
                    agent.actions.append(tool)
                }
            }
            if let n = section["action_limits"] {
                guard case .sequence(let items) = n else { throw reader.fail(n, "\(key).action_limits must list limits, e.g. [{ tool: place_hold, limit: 3, period: 1m, key: account_id }]") }
                for item in items {
                    let path = "\(key).action_limits"
                    let fields = try reader.mapping(item, path, keys: ["tool", "limit", "period", "burst", "key", "max_wait"])
                    var limit = ActionLimit(limit: try reader.positiveInt(try reader.required(fields, "limit", in: item, section: path), "\(path).limit"),
                                            period: try reader.duration(try reader.required(fields, "period", in: item, section: path), "\(path).period"))
                    if let t = fields["tool"] {
                        let tool = try reader.string(t, "\(path).tool")
                        guard agent.actions.contains(tool) else { throw reader.fail(t, "\(path).tool: \(tool) is not one of \(key).actions") }
                        limit.tool = tool
                    }
                    if let b = fields["burst"] { limit.burst = try reader.positiveInt(b, "\(path).burst") }
                    if let k = fields["key"] { limit.key = try reader.string(k, "\(path).key") }
                    if let w = fields["max_wait"] { limit.maxWait = try reader.duration(w, "\(path).max_wait") }
                    agent.actionLimits.append(limit)
                }
            }
            if case .llm(var settings) = agent.kind {
                settings.actions = agent.actions
                for read in settings.readTools {
                    guard tools.first(where: { $0.name == read })?.effect == .read else {
                        throw reader.fail(section["llm"]!, "\(key).llm.tools: \(read) is not a sql_query tool of tools:")
                    }
                }
                if !settings.readTools.isEmpty && settings.decision != .tools {
                    throw reader.fail(section["llm"]!, "\(key).llm.tools needs decision: tools (the model calls them); with json_schema, use enrich")
                }
                for enrichment in settings.enrich {
                    guard let found = tools.first(where: { $0.name == enrichment.tool }), found.effect == .read else {
                        throw reader.fail(section["llm"]!, "\(key).llm.enrich: \(enrichment.tool) is not a sql_query tool of tools:")
                    }
                    let missing = Set(found.parameters.map(\.name)).subtracting(enrichment.arguments.keys)
                    guard missing.isEmpty else { throw reader.fail(section["llm"]!, "\(key).llm.enrich: \(enrichment.tool) needs \(missing.sorted().joined(separator: ", "))") }
                }
                agent.kind = .llm(settings)
            }
            if let node = section["circuit_breaker"] {
                let fields = try reader.mapping(node, "\(key).circuit_breaker", keys: ["failures", "cool_down"])
                if let n = fields["failures"] { agent.breakerFailures = try reader.positiveInt(n, "\(key).circuit_breaker.failures") }
                if let n = fields["cool_down"] { agent.breakerCoolDown = try reader.duration(n, "\(key).circuit_breaker.cool_down") }
            }
            agents.append(agent)
        }
        return agents
    }
}
