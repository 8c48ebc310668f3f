/// What `run` does about snapshots by itself (`source.snapshot`, Debezium's `snapshot.mode`
/// names): the initial one when it creates the slot. Incremental snapshots are asked for with
/// `pgreflex snapshot start` whatever the mode.
public enum SnapshotMode: String, Sendable, CaseIterable {
    /// Read the tables when the slot is created, in the snapshot it exports, then stream.
    case initial
    /// Never read the tables by itself (`pgreflex snapshot start` still can).
    case never
    /// Read the tables when the slot is created, then stop.
    case initialOnly = "initial_only"
}
