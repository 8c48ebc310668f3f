
/// When to emit an idle heartbeat and when to look at the slot's health, and which health
/// observations deserve a log line. A pure state machine over any clock's instants; the owner
/// runs the queries and logs.
public struct SlotMonitor<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public struct Options: Sendable, Equatable {
        /// Emit a heartbeat after this long without a change (nil: never).
        public var heartbeatInterval: Duration?
        public var checkInterval: Duration
        /// Warn when the slot holds back more WAL than this (nil: never).
        public var retainedWALWarningBytes: Int64?

        public init(heartbeatInterval: Duration? = nil, checkInterval: Duration = .seconds(60), retainedWALWarningBytes: Int64? = nil) {
            self.heartbeatInterval = heartbeatInterval
            self.checkInterval = checkInterval
            self.retainedWALWarningBytes = retainedWALWarningBytes
        }
    }

    public enum Action: Equatable, Sendable {
        case emitHeartbeat
        case checkHealth
    }

    public enum Finding: Equatable, Sendable {
        case retainedWALAbove(bytes: Int64, threshold: Int64)
        case retainedWALBackUnder(bytes: Int64, threshold: Int64)
        /// The server removed WAL the slot needed: it can no longer stream.
        case invalidated
    }

    public let options: Options
    private var lastChange: Instant
    private var lastHeartbeat: Instant?
    private var lastCheck: Instant?
    private var warnedRetained = false
    private var warnedLost = false
    private var heartbeatDisabled = false

    public init(options: Options, now: Instant) {
        self.options = options
        lastChange = now
    }

    public mutating func changeSeen(at now: Instant) {
        lastChange = now
    }

    /// The heartbeat cannot run here (no privilege, say); stop trying.
    public mutating func disableHeartbeat() {
        heartbeatDisabled = true
    }

    public mutating func tick(at now: Instant) -> [Action] {
        var actions: [Action] = []
        if let interval = options.heartbeatInterval, !heartbeatDisabled,
           lastChange.duration(to: now) >= interval, lastHeartbeat.map({ $0.duration(to: now) >= interval }) ?? true {
            lastHeartbeat = now
            actions.append(.emitHeartbeat)
        }
        if lastCheck.map({ $0.duration(to: now) >= options.checkInterval }) ?? true {
            lastCheck = now
            actions.append(.checkHealth)
        }
        return actions
    }

    /// What a health check found that is worth a log line: each crossing once, not every check.
    public mutating func observed(_ health: SlotHealth) -> [Finding] {
        var findings: [Finding] = []
        if health.walStatus == "lost" {
            if !warnedLost { findings.append(.invalidated) }
            warnedLost = true
            return findings
        }
        if let threshold = options.retainedWALWarningBytes, let retained = health.retainedBytes {
            if retained > threshold && !warnedRetained {
                warnedRetained = true
                findings.append(.retainedWALAbove(bytes: retained, threshold: threshold))
            } else if retained <= threshold && warnedRetained {
                warnedRetained = false
                findings.append(.retainedWALBackUnder(bytes: retained, threshold: threshold))
            }
        }
        return findings
    }
}
