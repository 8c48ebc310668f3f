import Foundation
import Logging
import PGReflexAgents
import PGReflexDelivery
import PGReflexDispatch
import PGReflexRouter
import PGReflexTools
import PGReflexWire
import Yams

extension RunConfiguration.Reader {
    static let routeKeys = ["tables", "ops", "columns_changed", "if", "agent", "start", "key", "concurrency", "throttle", "rate_limit",
                            "debounce", "batch", "priority", "idempotency", "window", "schema_versions", "shed", "retries",
                            "max_buffered_events", "agent_changes"]

    /// One route: what it matches, its agent, and its flow control (Inngest's names).
    func routeSettings(_ node: Node, name: String, agents: [AgentSettings]) throws -> RouteSettings {
        let key = "routes.\(name)"
        let section = try mapping(node, key, keys: Self.routeKeys)
        let names = agents.map(\.name)
        guard let agentNode = section["agent"] else {
            throw fail(node, "\(key) needs agent: the agents: entry it wakes" + (names.isEmpty ? " (add an agents: section, e.g. agents: { audit: { file: { path: ./audit.jsonl } } })" : " (one of \(names.joined(separator: ", ")))"))
        }
        let agent = try string(agentNode, "\(key).agent")
        guard names.contains(agent) else {
            throw fail(agentNode, "\(key).agent: no agent named \(agent); the agents are \(names.isEmpty ? "none (add an agents: section)" : names.joined(separator: ", "))")
        }
        var settings = RouteSettings(route: try route(section, name: name), agent: agent)
        if let node = section["start"] {
            guard let start = StartPosition(parsing: try string(node, "\(key).start")) else {
                throw fail(node, "\(key).start must be earliest, latest, or an LSN such as 0/16B3748 (where a new route begins in the journal)")
            }
            settings.start = start
        }
        settings.key = try section["key"].map { try expression($0, "\(key).key") }
        if let node = section["concurrency"] {
            // `concurrency: 16` is short for { limit: 16 }.
            if case .scalar = node {
                settings.concurrency.limit = try positiveInt(node, "\(key).concurrency")
            } else {
                let fields = try mapping(node, "\(key).concurrency", keys: ["limit", "key"])
                settings.concurrency.limit = try positiveInt(try required(fields, "limit", in: node, section: "\(key).concurrency"), "\(key).concurrency.limit")
                settings.concurrency.key = try fields["key"].map { try expression($0, "\(key).concurrency.key") }
            }
        }
        settings.throttle = try section["throttle"].map { try rate($0, "\(key).throttle", burst: true) }
        settings.rateLimit = try section["rate_limit"].map { try rate($0, "\(key).rate_limit", burst: false) }
        if let node = section["debounce"] {
            let fields = try mapping(node, "\(key).debounce", keys: ["period", "key", "timeout"])
            settings.debounce = .init(period: try duration(try required(fields, "period", in: node, section: "\(key).debounce"), "\(key).debounce.period"),
                                      key: try fields["key"].map { try expression($0, "\(key).debounce.key") },
                                      timeout: try fields["timeout"].map { try duration($0, "\(key).debounce.timeout") })
        }
        if let node = section["batch"] {
            let fields = try mapping(node, "\(key).batch", keys: ["max_size", "timeout", "key"])
            settings.batch = .init(maxSize: try positiveInt(try required(fields, "max_size", in: node, section: "\(key).batch"), "\(key).batch.max_size"),
                                   timeout: try duration(try required(fields, "timeout", in: node, section: "\(key).batch"), "\(key).batch.timeout"),
                                   key: try fields["key"].map { try expression($0, "\(key).batch.key") })
        }
        if let node = section["priority"] {
            let fields = try mapping(node, "\(key).priority", keys: ["run"])
            settings.priority = try expression(try required(fields, "run", in: node, section: "\(key).priority"), "\(key).priority.run")
        }
        if let node = section["idempotency"] {
            // `idempotency: <key>`, or { key, period } (default 24h, as Inngest's).
            if case .scalar = node {
                settings.idempotency = .init(key: try expression(node, "\(key).idempotency"))
            } else {
                let fields = try mapping(node, "\(key).idempotency", keys: ["key", "period"])
                settings.idempotency = .init(key: try expression(try required(fields, "key", in: node, section: "\(key).idempotency"), "\(key).idempotency.key"),
                                             period: try fields["period"].map { try duration($0, "\(key).idempotency.period") } ?? .seconds(86_400))
            }
        }
        if let node = section["window"] {
            let fields = try mapping(node, "\(key).window", keys: ["count", "period", "key"])
            settings.window = .init(count: try positiveInt(try required(fields, "count", in: node, section: "\(key).window"), "\(key).window.count"),
                                    period: try duration(try required(fields, "period", in: node, section: "\(key).window"), "\(key).window.period"),
                                    key: try fields["key"].map { try expression($0, "\(key).window.key") })
        }
        if let node = section["schema_versions"] {
            guard case .mapping(let entries) = node else {
                throw fail(node, "\(key).schema_versions must map schema.table to the versions the route accepts, e.g. { public.orders: [1, 2] }")
            }
            for (tableNode, versions) in entries {
                let text = try string(tableNode, "\(key).schema_versions")
                guard let table = TableName(parsing: text) else { throw fail(tableNode, "\(key).schema_versions: '\(text)' is not schema.table or table") }
                settings.schemaVersions[table.description] = Set(try list(versions, "\(key).schema_versions.\(text)").map {
                    try positiveInt($0, "\(key).schema_versions.\(text)")
                })
            }
        }
        if let node = section["shed"] {
            let fields = try mapping(node, "\(key).shed", keys: ["lag_over", "action"])
            let actionNode = try required(fields, "action", in: node, section: "\(key).shed")
            guard let action = RouteSettings.Shed.Action(rawValue: try string(actionNode, "\(key).shed.action")) else {
                throw fail(actionNode, "\(key).shed.action must be skip (record and count the late events, and go on) or pause (wait while capture is behind)")
            }
            settings.shed = .init(lagOver: try duration(try required(fields, "lag_over", in: node, section: "\(key).shed"), "\(key).shed.lag_over"), action: action)
        }
        if let node = section["retries"] {
            let fields = try mapping(node, "\(key).retries", keys: ["attempts", "backoff", "timeout"])
            if let n = fields["attempts"] { settings.retry.attempts = try positiveInt(n, "\(key).retries.attempts") }
            if let n = fields["timeout"] { settings.timeout = try duration(n, "\(key).retries.timeout") }
            if let backoffNode = fields["backoff"] {
                let backoff = try mapping(backoffNode, "\(key).retries.backoff", keys: ["initial", "max", "multiplier"])
                if let n = backoff["initial"] { settings.retry.initial = try duration(n, "\(key).retries.backoff.initial") }
                if let n = backoff["max"] { settings.retry.max = try duration(n, "\(key).retries.backoff.max") }
                if let n = backoff["multiplier"] {
                    guard let value = n.float, value >= 1 else { throw fail(n, "\(key).retries.backoff.multiplier must be a number, 1 or more") }
                    settings.retry.multiplier = value
                }
            }
        }
        if let n = section["max_buffered_events"] { settings.maxBufferedEvents = try positiveInt(n, "\(key).max_buffered_events") }
        if let n = section["agent_changes"] {
            guard let value = RouteSettings.AgentChanges(rawValue: try string(n, "\(key).agent_changes")) else {
                throw fail(n, "\(key).agent_changes must be others (the default: changes other agents' actions made wake this route, its own agent's do not), skip (none do) or allow (all do); chains stop \(AgentCausation.maxDepth) deep")
            }
            settings.agentChanges = value
        }
        try checkCombinations(settings, section: section, key: key)
        return settings
    }

    /// Options that cannot work together, refused at load, as Inngest documents them.
    func checkCombinations(_ settings: RouteSettings, section: [String: Node], key: String) throws {
        let grouping = ["debounce", "batch", "window"].filter { section[$0] != nil }
        if grouping.count > 1 {
            throw fail(section[grouping[1]]!, "\(key): \(grouping.joined(separator: " and ")) cannot be combined: each decides which events make one call; keep one")
        }
        if settings.batch != nil {
            for option in ["idempotency", "rate_limit", "priority"] where section[option] != nil {
                throw fail(section[option]!, "\(key): batch cannot be combined with \(option) (it applies to single events, a batch is many): remove one")
            }
            if settings.concurrency.key != nil {
                throw fail(section["concurrency"]!, "\(key): batch ignores concurrency.key (batches are keyed by batch.key): remove concurrency.key")
            }
        }
        if let retry = settings.retry as RetryPolicy?, retry.initial > retry.max {
            throw fail(section["retries"]!, "\(key).retries.backoff: initial (\(retry.initial)) is longer than max (\(retry.max)): lower initial or raise max")
        }
        if let throttle = settings.throttle, throttle.burst > throttle.limit * 1000 {
            throw fail(section["throttle"]!, "\(key).throttle.burst is far above its limit: a burst is at most a few periods' worth")
        }
    }

    /// `{limit, period, burst, key}`.
    func rate(_ node: Node, _ name: String, burst: Bool) throws -> RouteSettings.Rate {
        let fields = try mapping(node, name, keys: burst ? ["limit", "period", "burst", "key"] : ["limit", "period", "key"])
        return RouteSettings.Rate(limit: try positiveInt(try required(fields, "limit", in: node, section: name), "\(name).limit"),
                                  period: try duration(try required(fields, "period", in: node, section: name), "\(name).period"),
                                  burst: try fields["burst"].map { try positiveInt($0, "\(name).burst") } ?? 1,
                                  key: try fields["key"].map { try expression($0, "\(name).key") })
    }

    /// A CEL expression (a key, a priority), parsed now, its errors placed in the file.
    func expression(_ node: Node, _ name: String) throws -> CELExpression {
        let text = try string(node, name)
        do {
            return try CELExpression(text)
        } catch {
            throw expressionError(error, in: node, setting: name)
        }
    }

    /// A duration as Inngest writes them: `500ms`, `10s`, `5m`, `2h`, `1d`, or combined, `1h30m`.
    func duration(_ node: Node, _ name: String) throws -> Duration {
        let text = try string(node, name)
        guard let value = Self.parseDuration(text), value > .zero else {
            throw fail(node, "\(name): '\(text)' is not a duration: write a number and a unit, such as 500ms, 10s, 5m, 2h or 1d")
        }
        return value
    }

    static func parseDuration(_ text: String) -> Duration? {
        var total = Duration.zero
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber }
            guard !digits.isEmpty, let number = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += .milliseconds(number)
            case "s": total += .seconds(number)
            case "m": total += .seconds(number * 60)
            case "h": total += .seconds(number * 3600)
            case "d": total += .seconds(number * 86_400)
            default: return nil
            }
        }
        return total
    }

    /// `webhook: { url, secret_env, timeout, format }`: the secrets (`whsec_…`, space-separated for
    /// rotation) come from the environment, never from the file.
    func webhook(_ node: Node, key: String) throws -> WebhookAgent.Settings {
        let fields = try mapping(node, key, keys: ["url", "secret_env", "timeout", "format"])
        let urlNode = try required(fields, "url", in: node, section: key)
        let url = try string(urlNode, "\(key).url")
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw fail(urlNode, "\(key).url must be an http:// or https:// URL")
        }
        var settings = WebhookAgent.Settings(url: url)
        if let node = fields["secret_env"] {
            let name = try string(node, "\(key).secret_env")
            guard let value = environment[name], !value.isEmpty else {
                throw fail(node, "\(key).secret_env names \(name), which is not set: export it (whsec_… secrets, space-separated)")
            }
            settings.secrets = value.split(separator: " ").map(String.init)
            guard (try? WebhookSignature(secrets: settings.secrets)) != nil else {
                throw fail(node, "\(key).secret_env: \(name) holds a secret that is not whsec_ followed by base64")
            }
        }
        if let n = fields["timeout"] { settings.timeout = try duration(n, "\(key).timeout") }
        if let n = fields["format"] {
            guard let format = WebhookAgent.Settings.Format(rawValue: try string(n, "\(key).format")) else {
                throw fail(n, "\(key).format must be debezium (the envelope as it is) or cloudevents (CloudEvents 1.0, structured)")
            }
            settings.format = format
        }
        return settings
    }

    /// `exec: { command, env, pass_env, working_directory, timeout }`. The command is a list (no
    /// shell); a program without `/` must be in PATH. It runs in the config file's directory
    /// unless `working_directory` says otherwise. `pass_env` copies named variables from
    /// pgreflex's environment, so secrets stay out of the file.
    func exec(_ node: Node, key: String) throws -> ExecAgent.Settings {
        let fields = try mapping(node, key, keys: ["command", "env", "pass_env", "working_directory", "timeout"])
        let commandNode = try required(fields, "command", in: node, section: key)
        var command: [String]
        if case .sequence(let items) = commandNode {
            command = try items.map { try string($0, "\(key).command") }
        } else {
            command = [try string(commandNode, "\(key).command")]
        }
        guard let program = command.first, !program.isEmpty else {
            throw fail(commandNode, "\(key).command is empty: give the program and its arguments, e.g. [python3, agents/classify.py]")
        }
        if program.contains("/") {
            command[0] = path(program)
            guard FileManager.default.isExecutableFile(atPath: command[0]) else {
                throw fail(commandNode, "\(key).command: \(command[0]) is not an executable file: check the path (relative to the config file) and chmod +x")
            }
        } else {
            let searched = (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
            guard searched.contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/\(program)") }) else {
                throw fail(commandNode, "\(key).command: \(program) is not in PATH: install it, or give its full path")
            }
        }
        // Relative arguments mean what they say next to the config file, as its paths do.
        var settings = ExecAgent.Settings(command: command, workingDirectory: path("."))
        if let node = fields["env"] {
            guard case .mapping(let entries) = node else { throw fail(node, "\(key).env must map names to values, e.g. { MODE: strict }") }
            for (name, value) in entries {
                settings.environment[try string(name, "\(key).env")] = try string(value, "\(key).env")
            }
        }
        if let node = fields["pass_env"] {
            guard case .sequence(let items) = node else { throw fail(node, "\(key).pass_env must list variable names, e.g. [OPENAI_API_KEY]") }
            for item in items {
                let name = try string(item, "\(key).pass_env")
                guard let value = environment[name] else {
                    throw fail(item, "\(key).pass_env names \(name), which is not set: export it, or remove it from the list")
                }
                settings.environment[name] = value
            }
        }
        if let n = fields["working_directory"] { settings.workingDirectory = path(try string(n, "\(key).working_directory")) }
        if let n = fields["timeout"] { settings.timeout = try duration(n, "\(key).timeout") }
        return settings
    }

    /// `llm: { base_url | base_url_env, model, api_key_env, system | system_file, prompt | prompt_file,
    /// decision, actions, temperature, max_tokens, token_budget, max_steps, timeout }`. Templates
    /// are parsed here, so a broken one fails `check`, not the first call.
    func llm(_ node: Node, key: String) throws -> LLMAgent.Settings {
        let fields = try mapping(node, key, keys: ["base_url", "base_url_env", "model", "api_key_env", "system", "system_file", "prompt", "prompt_file",
                                                   "decision", "enrich", "tools", "min_actions", "temperature", "max_tokens", "token_budget", "max_steps", "timeout"])
        var url: String
        if let n = fields["base_url_env"] {
            let name = try string(n, "\(key).base_url_env")
            guard let value = environment[name], !value.isEmpty else {
                throw fail(n, "\(key).base_url_env names \(name), which is not set: export the model server's URL, e.g. http://127.0.0.1:8080/v1")
            }
            url = value
        } else {
            url = try string(try required(fields, "base_url", in: node, section: key), "\(key).base_url")
        }
        let urlNode = fields["base_url"] ?? fields["base_url_env"]!
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw fail(urlNode, "\(key).base_url must be an http:// or https:// URL up to the API version, e.g. http://127.0.0.1:8080/v1")
        }
        let model = try string(try required(fields, "model", in: node, section: key), "\(key).model")
        var settings = LLMAgent.Settings(baseURL: url, model: model)
        if let n = fields["api_key_env"] {
            let name = try string(n, "\(key).api_key_env")
            guard let value = environment[name], !value.isEmpty else {
                throw fail(n, "\(key).api_key_env names \(name), which is not set: export the API key")
            }
            settings.apiKey = value
        }
        if let text = try llmTemplate(fields, "system", key: key) { settings.system = text }
        if let text = try llmTemplate(fields, "prompt", key: key) { settings.prompt = text }
        if let n = fields["decision"] {
            guard let decision = LLMAgent.Settings.Decision(rawValue: try string(n, "\(key).decision")) else {
                throw fail(n, "\(key).decision must be json_schema (strict JSON output) or tools (the model calls a decide tool)")
            }
            settings.decision = decision
        }
        if let n = fields["tools"] {
            guard case .sequence(let items) = n else { throw fail(n, "\(key).tools must list read tools the model may call, e.g. [recent_orders]") }
            settings.readTools = try items.map { try string($0, "\(key).tools") }
        }
        if let n = fields["enrich"] {
            guard case .sequence(let items) = n else { throw fail(n, "\(key).enrich must list read tools to run first, e.g. [{ tool: recent_orders, arguments: { customer_id: \"{{event.after.customer_id}}\" } }]") }
            for item in items {
                let entry = try mapping(item, "\(key).enrich", keys: ["tool", "arguments"])
                let tool = try string(try required(entry, "tool", in: item, section: "\(key).enrich"), "\(key).enrich.tool")
                var arguments: [String: String] = [:]
                if let a = entry["arguments"] {
                    guard case .mapping(let pairs) = a else { throw fail(a, "\(key).enrich.arguments must map parameter names to templates") }
                    for (name, value) in pairs {
                        let text = try string(value, "\(key).enrich.arguments")
                        do {
                            try LLMAgent.validate(template: text, setting: "\(key).enrich.arguments")
                        } catch {
                            throw fail(value, error.message)
                        }
                        arguments[try string(name, "\(key).enrich.arguments")] = text
                    }
                }
                settings.enrich.append(LLMAgent.Enrichment(tool: tool, arguments: arguments))
            }
        }
        if let n = fields["temperature"] {
            guard let value = Double(try string(n, "\(key).temperature")), value >= 0, value <= 2 else {
                throw fail(n, "\(key).temperature must be a number from 0 to 2")
            }
            settings.temperature = value
        }
        if let n = fields["max_tokens"] { settings.maxTokens = try positiveInt(n, "\(key).max_tokens") }
        if let n = fields["min_actions"] { settings.minActions = try positiveInt(n, "\(key).min_actions") }
        if let n = fields["token_budget"] { settings.tokenBudget = try positiveInt(n, "\(key).token_budget") }
        if let n = fields["max_steps"] { settings.maxSteps = try positiveInt(n, "\(key).max_steps") }
        if let n = fields["timeout"] { settings.timeout = try duration(n, "\(key).timeout") }
        return settings
    }

    /// An LLM agent's template, inline or from `<setting>_file`, parsed to check it.
    func llmTemplate(_ fields: [String: Node], _ setting: String, key: String) throws -> String? {
        let inline = fields[setting]
        let file = fields[setting + "_file"]
        var text: String?
        if inline != nil, let file { throw fail(file, "\(key): give \(setting) or \(setting)_file, not both") }
        if let inline { text = try string(inline, "\(key).\(setting)") }
        if let file {
            let location = path(try string(file, "\(key).\(setting)_file"))
            guard let contents = try? String(contentsOfFile: location, encoding: .utf8) else {
                throw fail(file, "\(key).\(setting)_file: cannot read \(location): check the path (relative to the config file)")
            }
            text = contents
        }
        guard let text, let node = inline ?? file else { return nil }
        do {
            try LLMAgent.validate(template: text, setting: "\(key).\(setting)")
        } catch {
            throw fail(node, error.message)
        }
        return text
    }

    /// `tools:`, a mapping of tool names to one kind: `sql_query: { query, parameters,
    /// protect_as }`, `sql_exec: { statement, parameters, compensate }`, `emit: { prefix,
    /// parameters }` or `http: { url, parameters, timeout }`; the SQL kinds take `dsn_env`
    /// (default: the source's database). A parameter is a name (any JSON value), or `{ name,
    /// type, nullable, values, detokenize }`; actions are checked against these before any runs.
    func tools(_ node: Node) throws -> [ToolSettings] {
        guard case .mapping(let entries) = node else {
            throw fail(node, "tools must map each tool's name to its kind, e.g. flag_order: { sql_exec: { statement: \"UPDATE …\", parameters: [order_id] } }")
        }
        var tools: [ToolSettings] = []
        for (keyNode, value) in entries {
            let name = try string(keyNode, "tools")
            guard ConsumerSettings.isValidName(name) else { throw fail(keyNode, "tools: '\(name)' is not a tool name: use letters, digits, _ and -") }
            let key = "tools.\(name)"
            let kinds = ["sql_query", "sql_exec", "emit", "http"]
            let section = try mapping(value, key, keys: kinds)
            let present = kinds.filter { section[$0] != nil }
            guard present.count == 1, let kindName = present.first, let body = section[kindName] else {
                throw fail(value, "\(key) needs exactly one kind: sql_query, sql_exec, emit or http")
            }
            let path = "\(key).\(kindName)"
            let extra: [String] = switch kindName {
            case "sql_query": ["query", "protect_as", "dsn_env"]
            case "sql_exec": ["statement", "compensate", "dsn_env"]
            case "emit": ["prefix", "dsn_env"]
            default: ["url", "timeout"]
            }
            let fields = try mapping(body, path, keys: extra + ["parameters"])
            var parameters: [ToolParameter] = []
            if let n = fields["parameters"] {
                guard case .sequence(let items) = n else { throw fail(n, "\(path).parameters must list argument names, in $1, $2 … order") }
                for item in items {
                    if case .mapping = item {
                        let p = try mapping(item, "\(path).parameters", keys: ["name", "type", "nullable", "values", "detokenize"])
                        var parameter = ToolParameter(name: try string(try required(p, "name", in: item, section: "\(path).parameters"), "\(path).parameters.name"))
                        if let t = p["type"] {
                            guard let type = ToolParameter.ValueType(rawValue: try string(t, "\(path).parameters.type")) else {
                                throw fail(t, "\(path).parameters.type must be one of \(ToolParameter.ValueType.allCases.map(\.rawValue).joined(separator: ", "))")
                            }
                            parameter.type = type
                        }
                        parameter.nullable = try p["nullable"].map { try bool($0, "\(path).parameters.nullable") } ?? false
                        if let v = p["values"] {
                            guard case .sequence(let items) = v, !items.isEmpty else { throw fail(v, "\(path).parameters.values must list the allowed strings") }
                            parameter.values = try items.map { try string($0, "\(path).parameters.values") }
                        }
                        parameter.detokenize = try p["detokenize"].map { try bool($0, "\(path).parameters.detokenize") } ?? false
                        parameters.append(parameter)
                    } else {
                        parameters.append(ToolParameter(name: try string(item, "\(path).parameters")))
                    }
                }
            }
            var dsn: String?
            if let n = fields["dsn_env"] {
                let variable = try string(n, "\(path).dsn_env")
                guard let value = environment[variable], !value.isEmpty else { throw fail(n, "\(path).dsn_env names \(variable), which is not set: export the connection string") }
                dsn = value
            }
            let kind: ToolSettings.Kind
            switch kindName {
            case "sql_query":
                var table: TableName?
                if let n = fields["protect_as"] {
                    let text = try string(n, "\(path).protect_as")
                    guard let parsed = TableName(parsing: text) else { throw fail(n, "\(path).protect_as: '\(text)' is not schema.table") }
                    table = parsed
                }
                kind = .sqlQuery(query: try string(try required(fields, "query", in: body, section: path), "\(path).query"), protectAs: table)
            case "sql_exec":
                kind = .sqlExec(statement: try string(try required(fields, "statement", in: body, section: path), "\(path).statement"),
                                compensate: try fields["compensate"].map { try string($0, "\(path).compensate") })
            case "emit":
                kind = .emit(prefix: try string(try required(fields, "prefix", in: body, section: path), "\(path).prefix"))
            default:
                let urlNode = try required(fields, "url", in: body, section: path)
                let url = try string(urlNode, "\(path).url")
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                    throw fail(urlNode, "\(path).url must be an http:// or https:// URL")
                }
                kind = .http(url: url, timeout: try fields["timeout"].map { try duration($0, "\(path).timeout") } ?? .seconds(15))
            }
            tools.append(ToolSettings(name: name, kind: kind, parameters: parameters, dsn: dsn))
        }
        return tools
    }

    /// `agents:`, a mapping of agent names to one kind (`file`, `log`, `noop`) and an optional
    /// `circuit_breaker: {failures, cool_down}`.
    func agents(_ node: Node, tools: [ToolSettings]) throws -> [AgentSettings] {
        guard case .mapping(let entries) = node else {
            throw fail(node, "agents must map each agent's name to its kind, e.g. audit: { file: { path: ./audit.jsonl } }")
        }
        var agents: [AgentSettings] = []
        for (keyNode, value) in entries {
            let name = try string(keyNode, "agents")
            guard ConsumerSettings.isValidName(name) else {
                throw fail(keyNode, "agents: '\(name)' is not an agent name: use letters, digits, _ and -")
            }
            let key = "agents.\(name)"
            let section = try mapping(value, key, keys: ["file", "log", "noop", "webhook", "exec", "llm", "circuit_breaker", "actions", "action_limits"])
            let kinds = ["file", "log", "noop", "webhook", "exec", "llm"].filter { section[$0] != nil }
            guard kinds.count == 1 else {
                throw fail(value, "\(key) needs exactly one kind: webhook: { url, secret_env }, exec: { command }, llm: { base_url, model }, file: { path }, log: { level }, or noop: { delay }" + (kinds.count > 1 ? " (it has \(kinds.joined(separator: " and ")))" : ""))
            }
            let kind: AgentSettings.Kind
            switch kinds[0] {
            case "file":
                let fields = try mapping(section["file"]!, "\(key).file", keys: ["path"])
                kind = .file(path: path(try string(try required(fields, "path", in: section["file"]!, section: "\(key).file"), "\(key).file.path")),
                             setting: "\(key).file.path")
            case "webhook":
                kind = .webhook(try webhook(section["webhook"]!, key: "\(key).webhook"))
            case "exec":
                kind = .exec(try exec(section["exec"]!, key: "\(key).exec"))
            case "llm":
                kind = .llm(try llm(section["llm"]!, key: "\(key).llm"))
            case "log":
                var level = Logger.Level.info
                if case .mapping = section["log"]! {
                    let fields = try mapping(section["log"]!, "\(key).log", keys: ["level"])
                    if let node = fields["level"] {
                        guard let parsed = Logger.Level(rawValue: try string(node, "\(key).log.level")) else {
                            throw fail(node, "\(key).log.level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
                        }
                        level = parsed
                    }
                }
                kind = .log(level: level)
            default:
                var delay: Duration?
                if case .mapping = section["noop"]! {
                    let fields = try mapping(section["noop"]!, "\(key).noop", keys: ["delay"])
                    delay = try fields["delay"].map { try duration($0, "\(key).noop.delay") }
                }
                kind = .noop(delay: delay)
            }
            var agent = AgentSettings(name: name, kind: kind)
            if let n = section["actions"] {
                guard case .sequence(let items) = n else { throw fail(n, "\(key).actions must list the tools its decisions may act through, e.g. [flag_order]") }
                for item in items {
                    let tool = try string(item, "\(key).actions")
                    guard let found = tools.first(where: { $0.name == tool }) else {
                        throw fail(item, "\(key).actions: no tool named \(tool) (tools: \(tools.map(\.name).joined(separator: ", ")))")
                    }
                    guard found.effect == .write else { throw fail(item, "\(key).actions: \(tool) only reads: list it under llm.enrich") }
                    agent.actions.append(tool)
                }
            }
            if let n = section["action_limits"] {
                guard case .sequence(let items) = n else { throw fail(n, "\(key).action_limits must list limits, e.g. [{ tool: place_hold, limit: 3, period: 1m, key: account_id }]") }
                for item in items {
                    let path = "\(key).action_limits"
                    let fields = try mapping(item, path, keys: ["tool", "limit", "period", "burst", "key"])
                    var limit = ActionLimit(limit: try positiveInt(try required(fields, "limit", in: item, section: path), "\(path).limit"),
                                            period: try duration(try required(fields, "period", in: item, section: path), "\(path).period"))
                    if let t = fields["tool"] {
                        let tool = try string(t, "\(path).tool")
                        guard agent.actions.contains(tool) else { throw fail(t, "\(path).tool: \(tool) is not one of \(key).actions") }
                        limit.tool = tool
                    }
                    if let b = fields["burst"] { limit.burst = try positiveInt(b, "\(path).burst") }
                    if let k = fields["key"] { limit.key = try string(k, "\(path).key") }
                    agent.actionLimits.append(limit)
                }
            }
            if case .llm(var settings) = agent.kind {
                settings.actions = agent.actions
                for read in settings.readTools {
                    guard tools.first(where: { $0.name == read })?.effect == .read else {
                        throw fail(section["llm"]!, "\(key).llm.tools: \(read) is not a sql_query tool of tools:")
                    }
                }
                if !settings.readTools.isEmpty && settings.decision != .tools {
                    throw fail(section["llm"]!, "\(key).llm.tools needs decision: tools (the model calls them); with json_schema, use enrich")
                }
                for enrichment in settings.enrich {
                    guard let found = tools.first(where: { $0.name == enrichment.tool }), found.effect == .read else {
                        throw fail(section["llm"]!, "\(key).llm.enrich: \(enrichment.tool) is not a sql_query tool of tools:")
                    }
                    let missing = Set(found.parameters.map(\.name)).subtracting(enrichment.arguments.keys)
                    guard missing.isEmpty else { throw fail(section["llm"]!, "\(key).llm.enrich: \(enrichment.tool) needs \(missing.sorted().joined(separator: ", "))") }
                }
                agent.kind = .llm(settings)
            }
            if let node = section["circuit_breaker"] {
                let fields = try mapping(node, "\(key).circuit_breaker", keys: ["failures", "cool_down"])
                if let n = fields["failures"] { agent.breakerFailures = try positiveInt(n, "\(key).circuit_breaker.failures") }
                if let n = fields["cool_down"] { agent.breakerCoolDown = try duration(n, "\(key).circuit_breaker.cool_down") }
            }
            agents.append(agent)
        }
        return agents
    }
}
