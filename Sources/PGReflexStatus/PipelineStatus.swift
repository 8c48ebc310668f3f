import Synchronization

/// What a running `pgreflex run` is doing, as its parts report it: capture's state and lag,
/// each route's counts, calls in flight, queue and breaker, and the latencies. The status page,
/// `/readyz`, the demo's progress line and the status file that `pgreflex status` reads all
/// take a ``StatusReport`` from here. Holds no row values.
public final class PipelineStatus: Sendable {
    private let state = Mutex(StatusReport())

    /// Whether a metrics backend is bootstrapped: without one, the hot paths count nothing.
    public let metricsEnabled: Bool

    public init(pid: Int32 = 0, startedAt: Int64 = 0, metricsEnabled: Bool = false) {
        self.metricsEnabled = metricsEnabled
        state.withLock {
            $0.pid = pid
            $0.startedAt = startedAt
        }
    }

    public func updateCapture(_ body: (inout CaptureStatus) -> Void) {
        state.withLock { body(&$0.capture) }
    }

    public func updateRoute(_ name: String, _ route: RouteStatus) {
        state.withLock { $0.routes[name] = route }
    }

    public func updateConsumers(_ consumers: [ConsumerStatus], journalBytes: Int64?) {
        state.withLock {
            $0.consumers = consumers
            $0.journalBytes = journalBytes
        }
    }

    public func updateDeadLetters(_ byRoute: [String: Int]) {
        state.withLock { $0.deadLetters = byRoute }
    }

    public func report(now: Int64) -> StatusReport {
        var report = state.withLock { $0 }
        report.generatedAt = now
        return report
    }

    /// Ready while capture streams, with the reason when it does not.
    public var readiness: (ready: Bool, reason: String) {
        let capture = state.withLock { $0.capture }
        switch capture.state {
        case .streaming: return (true, "streaming")
        case .paused: return (false, "capture is paused: " + (capture.reason ?? "the journal is full"))
        case .starting: return (false, "capture is connecting to PostgreSQL")
        case .reconnecting: return (false, "capture lost its connection and is reconnecting: " + (capture.reason ?? ""))
        case .stopped: return (false, "capture has stopped: " + (capture.reason ?? ""))
        }
    }
}

/// A snapshot of everything ``PipelineStatus`` knows; also the status file's format.
public struct StatusReport: Sendable, Codable, Equatable {
    /// Unix microseconds when taken.
    public var generatedAt: Int64 = 0
    public var capture = CaptureStatus()
    public var routes: [String: RouteStatus] = [:]
    public var consumers: [ConsumerStatus] = []
    public var journalBytes: Int64?
    /// Entries in the dead-letter queue, by route.
    public var deadLetters: [String: Int] = [:]
    /// The process that wrote it, and when it started (Unix microseconds).
    public var pid: Int32 = 0
    public var startedAt: Int64 = 0

    public init() {}

    /// Calls in flight and queued, across routes.
    public var inFlight: Int { routes.values.reduce(0) { $0 + $1.inFlight } }
    public var queued: Int { routes.values.reduce(0) { $0 + $1.queued } }

    /// Commit to agent start across every route.
    public var commitToAgent: LatencyHistogram {
        routes.values.reduce(into: LatencyHistogram()) { $0.merge($1.commitToAgent) }
    }
}

public struct CaptureStatus: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable {
        case starting, streaming, paused, reconnecting, stopped
    }

    public var state: State = .starting
    /// Why it is not streaming.
    public var reason: String?
    public var slot: String?
    /// What the stream has brought so far (capture's session publishes it whole, once a batch).
    public var progress = CaptureProgress()
    public var slotRetainedBytes: Int64?
    public var slotWALStatus: String?
    /// Whether a walsender holds the slot (as `pgreflex status` found it in the database).
    public var slotActive: Bool?
    /// False when the database was asked and has no such slot (`pgreflex status` asks).
    public var slotExists: Bool?

    public init() {}
}

public struct CaptureProgress: Sendable, Codable, Equatable {
    /// Changes written to the journal since the start.
    public var changes: Int = 0
    public var transactions: Int = 0
    /// The end of the last transaction journaled, and what the slot has been told.
    public var receivedLSN: UInt64 = 0
    public var confirmedLSN: UInt64 = 0
    /// The server's WAL end as its last message said.
    public var serverWALEnd: UInt64 = 0
    /// Unix microseconds of the last journaled commit.
    public var lastCommitTime: Int64?
    /// True when the last keepalive found nothing left to send.
    public var caughtUp = false

    public init() {}

    /// WAL bytes the server has sent word of but capture has not journaled.
    public var lagBytes: UInt64 { serverWALEnd > receivedLSN && !caughtUp ? serverWALEnd - receivedLSN : 0 }

    /// Commit time to now, while capture is behind; 0 once caught up.
    public func lagSeconds(now: Int64) -> Double {
        guard !caughtUp, let lastCommitTime else { return 0 }
        return max(0, Double(now - lastCommitTime) / 1e6)
    }
}

public struct RouteStatus: Sendable, Codable, Equatable {
    public var agent: String
    public var read = 0
    public var filtered = 0
    public var matched = 0
    public var skipped = 0
    public var calls = 0
    public var succeeded = 0
    public var retries = 0
    public var deadLettered = 0
    public var duplicates = 0
    public var inFlight = 0
    public var queued = 0
    public var held = 0
    /// `closed`, `open` or `half_open`.
    public var breaker = "closed"
    /// Where the route's cursor is (commit LSN), as recorded.
    public var position: UInt64?
    /// Commit to agent start, first attempts only; and the calls' own duration.
    public var commitToAgent = LatencyHistogram()
    public var callDuration = LatencyHistogram()

    public init(agent: String) {
        self.agent = agent
    }
}

public struct ConsumerStatus: Sendable, Codable, Equatable {
    public var name: String
    /// The commit LSN of the last event the consumer has handled (0: none yet).
    public var position: UInt64
    /// WAL bytes between it and the journal's durable end.
    public var lagBytes: UInt64

    public init(name: String, position: UInt64, lagBytes: UInt64) {
        self.name = name
        self.position = position
        self.lagBytes = lagBytes
    }
}
