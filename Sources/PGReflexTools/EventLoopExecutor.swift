public import NIOCore
import AsyncHTTPClient
import Synchronization

/// A task executor over one of NIO's event loops. A call whose work is the shared HTTP client's
/// runs on the loop its connection lives on: the client takes the current loop as its preferred
/// one, so the request goes out and its answer resumes the call on one thread, with no wake-up
/// of another thread in between (two per request otherwise). Only for work that never blocks:
/// a blocked loop stalls every connection on it.
public final class EventLoopExecutor: TaskExecutor {
    let loop: any EventLoop

    public init(_ loop: any EventLoop) {
        self.loop = loop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// One per loop of the shared HTTP client, handed out in turn, so calls spread over the loops.
    public static func next() -> EventLoopExecutor {
        shared[turn.add(1, ordering: .relaxed).oldValue % shared.count]
    }

    private static let shared = HTTPClient.pgreflex.eventLoopGroup.makeIterator().map(EventLoopExecutor.init)

    private static let turn = Atomic<Int>(0)
}
