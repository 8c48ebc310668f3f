public import PGReflexStatus

/// What the status page's change and route pages read: `changes` finds the changes a search
/// names (an event id, or `schema.table:key`; nil when the text is neither), `route` gives a
/// route's latest calls and dead letters (nil for a route the configuration does not have).
/// `run` builds them over its journal and state store.
public struct ChangePages: Sendable {
    public var changes: @Sendable (_ query: String) async throws -> [ChangeTrace]?
    public var route: @Sendable (_ name: String) async throws -> RouteActivity?

    public init(changes: @escaping @Sendable (String) async throws -> [ChangeTrace]?,
                route: @escaping @Sendable (String) async throws -> RouteActivity?) {
        self.changes = changes
        self.route = route
    }
}
