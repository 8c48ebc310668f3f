import Foundation
import Logging
import PGReflexAgentContract
import PGReflexAgents
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
            let fields = try mapping(node, "\(key).retries", keys: ["attempts", "backoff", "timeout", "retry_after_max"])
            if let n = fields["attempts"] { settings.retry.attempts = try positiveInt(n, "\(key).retries.attempts") }
            if let n = fields["retry_after_max"] { settings.retry.retryAfterMax = try duration(n, "\(key).retries.retry_after_max") }
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
}
