public import PGReflexWire

/// Where changes are read from and how the slot is kept: `run`'s `source` section and `tail`'s
/// connection flags, one type for both.
public struct SourceOptions: Sendable, Equatable {
    public var dsn: String
    public var slot: String
    public var publication: String
    /// The captured tables; published tables outside the list are skipped. Empty: every
    /// table of the publication.
    public var tables: [TableName]
    public var createSlot: Bool
    public var createPublication: Bool
    /// With `createPublication`: FOR ALL TABLES.
    public var allTables: Bool
    /// The idle heartbeat and the slot health checks.
    public var monitor: SlotMonitor<ContinuousClock.Instant>.Options
    /// How errors name the settings that fix the source: `tail`'s flags or `run`'s keys.
    public var hints: SetupHints

    public init(dsn: String, slot: String, publication: String, tables: [TableName] = [], createSlot: Bool = false,
                createPublication: Bool = false, allTables: Bool = false, monitor: SlotMonitor<ContinuousClock.Instant>.Options = .init(), hints: SetupHints = .tail) {
        self.hints = hints
        self.dsn = dsn
        self.slot = slot
        self.publication = publication
        self.tables = tables
        self.createSlot = createSlot
        self.createPublication = createPublication
        self.allTables = allTables
        self.monitor = monitor
    }
}
