public import PGReflexWire

/// How the running command spells the settings that fix a setup problem, so an error names
/// the flag `tail` takes or the key `run`'s configuration file takes, never the other's.
public struct SetupHints: Sendable, Equatable {
    /// What to do to have the slot created: `pass --create-slot`.
    public var createSlot: String
    /// What to do to have the publication created: `set source.create_publication: true`.
    public var createPublication: String
    /// Where the tables are named: `--tables`.
    public var tables: String
    /// Whether the command keeps a journal that can re-deliver what the slot has passed.
    public var hasJournal: Bool

    public init(createSlot: String, createPublication: String, tables: String, hasJournal: Bool) {
        self.createSlot = createSlot
        self.createPublication = createPublication
        self.tables = tables
        self.hasJournal = hasJournal
    }

    public static let tail = SetupHints(
        createSlot: "pass --create-slot", createPublication: "pass --create-publication", tables: "--tables", hasJournal: false)
    public static let run = SetupHints(
        createSlot: "set source.create_slot: true", createPublication: "set source.create_publication: true", tables: "source.tables",
        hasJournal: true)

    /// What to do about a range the slot has already passed.
    public func pastSlot(start: LSN?) -> String {
        if hasJournal {
            return "Re-deliver that range from the journal with `pgreflex replay --config FILE --from-lsn \(start?.description ?? "LSN")`"
                + (start == nil ? "" : ", or drop --start-lsn to continue from the slot's position")
        }
        return "A slot cannot go back, and tail keeps no copy of what it printed: "
            + (start == nil ? "" : "drop --start-lsn to continue from the slot's position, or ")
            + "use `pgreflex run`, whose journal keeps changes for `pgreflex replay`"
    }
}
