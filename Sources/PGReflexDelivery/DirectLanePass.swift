/// The events of one direct-lane pass (``RouteStateMachine``): called together, in commit
/// order, each row at most once.
struct DirectLanePass {
    /// A row of a table (its key's hash from the journal): the same row twice in one pass
    /// ends the pass.
    struct Row: Hashable {
        var table: String
        var keyHash: UInt64
    }

    /// A pass's calls at most (a `file` agent syncs once for them all).
    static let capacity = 1024

    private(set) var events: [RoutedEvent] = []
    private var rows: Set<Row> = []

    /// False when the event's row is already in this pass, or the pass is full.
    mutating func add(_ event: RoutedEvent) -> Bool {
        guard events.count < Self.capacity,
              rows.insert(Row(table: event.table, keyHash: event.keyHash)).inserted else { return false }
        events.append(event)
        return true
    }
}
