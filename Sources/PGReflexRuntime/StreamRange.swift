public import PGReflexWire

/// Where a run starts and stops reading the slot: `--start-lsn`, `--end-lsn`, `--idle-exit`.
public struct StreamRange: Sendable {
    public var startLSN: LSN?
    public var endLSN: LSN?
    public var idleExit: Duration?

    public init(startLSN: LSN? = nil, endLSN: LSN? = nil, idleExit: Duration? = nil) {
        self.startLSN = startLSN
        self.endLSN = endLSN
        self.idleExit = idleExit
    }
}
