/// What a snapshot reports as it goes, with Debezium's notification names: logged, and
/// counted in `pgreflex_snapshot_notifications_total{type}`.
public enum SnapshotNotification: String, Sendable, CaseIterable {
    case started = "STARTED"
    case paused = "PAUSED"
    case resumed = "RESUMED"
    case inProgress = "IN_PROGRESS"
    case tableScanCompleted = "TABLE_SCAN_COMPLETED"
    case completed = "COMPLETED"
    case aborted = "ABORTED"
}
