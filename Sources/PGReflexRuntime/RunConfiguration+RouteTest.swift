public import PGReflexConfig
public import PGReflexRouter

/// What each route of a configuration decides for one envelope (`route test`).
public struct RouteVerdicts: Sendable {
    public var table: String
    public var op: String
    public var verdicts: [(route: String, verdict: Route.Verdict)]
}

extension RunConfiguration {
    /// Each route's verdict on `envelope`, as `run` would judge it; nil when the envelope has no
    /// table and op (not a pgreflex envelope). Throws when it is not a JSON object.
    public func verdicts(for envelope: some Collection<UInt8>) throws -> RouteVerdicts? {
        let activation = try CELValue.activation(envelope: envelope)
        guard case .string(let table) = activation["table"], case .string(let op) = activation["op"] else { return nil }
        return RouteVerdicts(table: table, op: op, verdicts: routes.map { ($0.name, $0.route.verdict(table: table, op: op) { activation }) })
    }
}
