/// Where snapshots and their progress are kept (the state store). Shared by `run`, which
/// reads, and the `pgreflex snapshot` commands, which start, pause, resume and cancel.
public protocol SnapshotStore: Sendable {
    /// Records a new snapshot and returns it with its id.
    func createSnapshot(_ job: SnapshotJob) async throws -> SnapshotJob
    /// Every snapshot, oldest first.
    func snapshots() async throws -> [SnapshotJob]
    /// Saves how far a snapshot has got; its state is left as it is (a command may have changed it).
    func saveSnapshotProgress(id: Int64, _ progress: SnapshotProgress) async throws
    /// Moves a snapshot to `state` if it is in one of `from`; returns whether it moved.
    @discardableResult
    func transitionSnapshot(id: Int64, from: Set<SnapshotJob.State>, to state: SnapshotJob.State, error: String?) async throws -> Bool
}

extension SnapshotStore {
    /// The snapshot to work on: the oldest one not ended.
    public func activeSnapshot() async throws -> SnapshotJob? {
        try await snapshots().first { !$0.state.isFinal }
    }
}
