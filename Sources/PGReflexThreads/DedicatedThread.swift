import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An executor backed by one dedicated OS thread, for work that blocks.
///
/// A libpq connection is not thread-safe and most of its calls block (connect, exec, and
/// the replication loop, which sleeps in `poll`): an actor on this executor keeps them off
/// Swift's cooperative pool, and pins every call for one connection to one thread. A journal
/// consumer runs its task here (as a task executor preference) because its sink writes may
/// block for as long as the sink is slow, and must not starve capture of the pool's threads.
public final class DedicatedThread: SerialExecutor, TaskExecutor, Sendable {
    private struct State: ~Copyable {
        var jobs: [UnownedJob] = []
        var stopping = false
    }

    private let state = Mutex(State())
    /// A pipe the thread sleeps on while it has no jobs.
    private let wake: WakePipe

    public init() {
        wake = WakePipe(blocking: true)
        let thread = Thread(executor: self)
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        state.withLock { $0.jobs.append(unowned) }
        wake.signal()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// Ends the thread once the jobs queued so far have run.
    public func shutdown() {
        state.withLock { $0.stopping = true }
        wake.signal()
    }

    fileprivate func runLoop() {
        while true {
            let (jobs, stopping) = state.withLock { state -> ([UnownedJob], Bool) in
                defer { state.jobs.removeAll(keepingCapacity: true) }
                return (state.jobs, state.stopping)
            }
            for job in jobs {
                job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            }
            if jobs.isEmpty {
                if stopping { break }
                wake.wait()
            }
        }
    }

    private final class Thread: Sendable {
        let executor: DedicatedThread

        init(executor: DedicatedThread) {
            self.executor = executor
        }

        func start() {
            var attributes = pthread_attr_t()
            pthread_attr_init(&attributes)
            pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
            defer { pthread_attr_destroy(&attributes) }
            let box = Unmanaged.passRetained(self).toOpaque()
            var tid = pthread_t()
            let rc = pthread_create(&tid, &attributes, { raw in
                let thread = Unmanaged<Thread>.fromOpaque(raw!).takeRetainedValue()
                thread.executor.runLoop()
                return nil
            }, box)
            precondition(rc == 0, "pthread_create failed: \(rc)")
        }
    }
}

/// A self-pipe: one thread sleeps on (or polls) the read end, others write a byte to wake it.
/// Both ends close when the value goes away.
public final class WakePipe: Sendable {
    public let readFD: Int32
    public let writeFD: Int32

    public init(blocking: Bool) {
        var fds: [Int32] = [-1, -1]
        let rc = pipe(&fds)
        precondition(rc == 0, "pipe failed: \(String(cString: strerror(errno)))")
        readFD = fds[0]
        writeFD = fds[1]
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        if !blocking { _ = fcntl(readFD, F_SETFL, fcntl(readFD, F_GETFL) | O_NONBLOCK) }
        // A full pipe already means "wake up": the writer must never block on it.
        _ = fcntl(writeFD, F_SETFL, fcntl(writeFD, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    public func signal() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    /// Blocks until signalled (blocking pipes only), then clears the pipe.
    public func wait() {
        var buffer = [UInt8](repeating: 0, count: 64)
        _ = read(readFD, &buffer, 64)
    }

    /// Clears pending signals without blocking (non-blocking pipes only).
    public func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, 64) > 0 {}
    }
}
