import Synchronization

/// A request to stop, made from any thread (a signal handler's task, the service group) and
/// read by the loop that honours it between units of work. The one plain stop flag: a stop
/// that must also reach something live (capture's stream) keeps that in one lock with it.
public final class StopFlag: Sendable {
    private let requested = Mutex(false)

    public init() {}

    public func request() {
        requested.withLock { $0 = true }
    }

    public var isRequested: Bool { requested.withLock { $0 } }
}
