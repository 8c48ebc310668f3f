/// What `run` does when a table's shape is not yet in the registry (`schemas.on_new_version`):
/// record it and go on, or record it as pending and hold the table's events in the journal
/// until an operator accepts it with `pgreflex schema accept`.
public struct SchemaVersionPolicy: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        case `continue`
        case hold
    }

    /// For tables not named in `tables`.
    public var defaultAction: Action
    /// Per `schema.table`.
    public var tables: [String: Action]

    public init(defaultAction: Action = .continue, tables: [String: Action] = [:]) {
        self.defaultAction = defaultAction
        self.tables = tables
    }

    public func action(for table: String) -> Action {
        tables[table] ?? defaultAction
    }

    /// Whether any table can be held: when none can, events are never inspected for it.
    public var holdsAny: Bool {
        defaultAction == .hold || tables.values.contains(.hold)
    }
}
