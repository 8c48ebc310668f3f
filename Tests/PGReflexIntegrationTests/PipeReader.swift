import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The far end of a named pipe that a consumer's file sink writes to: a deliberately slow (or
/// stopped) reader, as a real downstream process would be. It copies whole lines into a file,
/// at most `bytesPerSecond` while running; paused, it reads nothing, so the writer blocks once
/// the pipe is full. It survives the writer's death (kill -9): it drops the partial last line
/// the writer may leave, as a line-based reader must, and waits for the next writer.
final class PipeReader: Sendable {
    let fifo: String
    let output: String
    private let state = Mutex<(paused: Bool, stopping: Bool, finished: Bool, bytesPerSecond: Int)>((false, false, false, 0))

    init(fifo: String, output: String, bytesPerSecond: Int) throws {
        self.fifo = fifo
        self.output = output
        guard mkfifo(fifo, 0o600) == 0 else { throw CocoaError(.fileWriteUnknown) }
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        state.withLock { $0.bytesPerSecond = bytesPerSecond }
        let thread = Thread { [self] in self.loop() }
        thread.start()
    }

    func pause() { state.withLock { $0.paused = true } }

    func resume(bytesPerSecond: Int) {
        state.withLock {
            $0.paused = false
            $0.bytesPerSecond = bytesPerSecond
        }
    }

    /// Ends the reader once no writer has the pipe open.
    func stop() {
        state.withLock {
            $0.stopping = true
            $0.paused = false
        }
        // Wake a reader blocked in open(): a writer that opens and closes at once.
        while !state.withLock({ $0.finished }) {
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            usleep(10_000)
        }
    }

    private func loop() {
        let out = open(output, O_WRONLY | O_APPEND)
        defer {
            close(out)
            state.withLock { $0.finished = true }
        }
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while !state.withLock({ $0.stopping }) {
            let fd = open(fifo, O_RDONLY)
            guard fd >= 0 else { return }
            var pending: [UInt8] = []
            while true {
                let (paused, rate, stopping) = state.withLock { ($0.paused, $0.bytesPerSecond, $0.stopping) }
                if stopping && paused { break }
                if paused {
                    usleep(20_000)
                    continue
                }
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { break }  // every writer has gone
                pending += chunk[..<n]
                if let last = pending.lastIndex(of: UInt8(ascii: "\n")) {
                    _ = pending.withUnsafeBytes { write(out, $0.baseAddress, last + 1) }
                    pending.removeFirst(last + 1)
                }
                if rate > 0 { usleep(UInt32(1_000_000 * n / rate)) }
            }
            close(fd)  // an unterminated last line is the writer's partial write: dropped
        }
    }
}
