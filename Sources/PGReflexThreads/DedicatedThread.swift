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
        /// The thread found no jobs and sleeps on the pipe (or is about to): only then does an
        /// enqueue write to the pipe. A thread that is running jobs takes new ones on its next
        /// pass, so a busy route or connection costs no syscall (and, on a loaded core, no
        /// context switch) per job.
        var sleeping = false
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
        let asleep = state.withLock { state -> Bool in
            state.jobs.append(unowned)
            defer { state.sleeping = false }
            return state.sleeping
        }
        if asleep { wake.signal() }
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
        // Two buffers swapped back and forth: taking the queued jobs allocates nothing.
        var jobs: [UnownedJob] = []
        while true {
            let stopping = state.withLock { state -> Bool in
                swap(&jobs, &state.jobs)
                if jobs.isEmpty { state.sleeping = true }
                return state.stopping
            }
            for job in jobs {
                job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
            }
            if jobs.isEmpty {
                if stopping { break }
                wake.wait()
            }
            jobs.removeAll(keepingCapacity: true)
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
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            _ = read(readFD, buffer.baseAddress, 64)
        }
    }

    /// Clears pending signals without blocking (non-blocking pipes only).
    public func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, 64) > 0 {}
    }
}
