public import Logging
public import PGReflexPrivacy
public import PGReflexWire

/// One `tools:` entry, as configured; ``makeTool(defaultDSN:privacy:logger:)`` builds it once
/// per process, shared by every agent that names it.
public struct ToolSettings: Sendable {
    public enum Kind: Sendable, Equatable {
        case sqlQuery(query: String, protectAs: TableName?)
        case sqlExec(statement: String, compensate: String?)
        case emit(prefix: String)
        /// `secrets`: `whsec_…` secrets: requests are signed as webhooks are (Standard Webhooks).
        case http(url: String, timeout: Duration, secrets: [String] = [])
    }

    public var name: String
    public var kind: Kind
    public var parameters: [ToolParameter]
    /// The database the SQL kinds use; nil: the source's.
    public var dsn: String?
    /// How many sessions the SQL kinds open at most (`pool`).
    public var pool: Int

    public init(name: String, kind: Kind, parameters: [ToolParameter] = [], dsn: String? = nil, pool: Int = 4) {
        self.name = name
        self.kind = kind
        self.parameters = parameters
        self.dsn = dsn
        self.pool = pool
    }

    public var effect: ToolEffect {
        if case .sqlQuery = kind { return .read }
        return .write
    }

    public func makeTool(defaultDSN: String, privacy: PrivacyPolicy?, logger: Logger) -> any Tool {
        let dsn = self.dsn ?? defaultDSN
        switch kind {
        case .sqlQuery(let query, let protectAs):
            return SQLTool(name: name, kind: .query(query), parameters: parameters, dsn: dsn, privacy: privacy, protectAs: protectAs, pool: pool, logger: logger)
        case .sqlExec(let statement, let compensate):
            return SQLTool(name: name, kind: .exec(statement, compensate: compensate), parameters: parameters, dsn: dsn, pool: pool, logger: logger)
        case .emit(let prefix):
            return SQLTool(name: name, kind: .emit(prefix: prefix), parameters: parameters, dsn: dsn, pool: pool, logger: logger)
        case .http(let url, let timeout, let secrets):
            return HTTPTool(name: name, url: url, parameters: parameters, timeout: timeout, secrets: secrets)
        }
    }

    /// Every tool configured, built.
    public static func makeTools(_ settings: [ToolSettings], defaultDSN: String, privacy: PrivacyPolicy?, logger: Logger) -> [String: any Tool] {
        Dictionary(uniqueKeysWithValues: settings.map { ($0.name, $0.makeTool(defaultDSN: defaultDSN, privacy: privacy, logger: logger)) })
    }
}
