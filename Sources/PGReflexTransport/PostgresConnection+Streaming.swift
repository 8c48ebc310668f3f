import CLibPQ
import Logging
import PGReflexThreads
import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

extension PostgresConnection {
    /// Starts streaming and runs `body` with the stream. When `body` returns or throws, the
    /// stream is stopped cleanly (final status update, CopyDone, results drained) before this
    /// returns. The connection can run commands again afterwards.
    public nonisolated func withReplicationStream<R>(
        _ options: ReplicationStreamOptions,
        _ body: (ReplicationStream) async throws -> R
    ) async throws -> R {
        try await startReplication(options)
        let shared = StreamShared()
        let stream = ReplicationStream(shared: shared)
        // The read loop is the child task (on the connection's thread); the body runs here, so
        // it may hold state that is not Sendable.
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.pump(shared, statusInterval: options.statusInterval, idleTick: options.idleTick)
            }
            let result: Result<R, any Error>
            do {
                result = .success(try await body(stream))
            } catch {
                result = .failure(error)
            }
            shared.requestStop()
            try await group.waitForAll()
            return try result.get()
        }
    }

    private func startReplication(_ options: ReplicationStreamOptions) throws(PostgresError) {
        let pg = try connection()
        let command = try options.startCommand(serverVersion: pg.serverVersion)
        guard let result = pg.execute(command) else { throw PostgresError.classifyLost(pg.errorMessage) }
        if result.status != PGRES_COPY_BOTH {
            throw PostgresError.classifyServer(sqlState: result.sqlState, message: result.primaryMessage ?? pg.errorMessage)
        }
        logger.info("replication started", metadata: [
            "replication.slot": "\(options.slot)",
            "replication.start_lsn": "\(options.startLSN == .invalid ? "the slot's confirmed position" : options.startLSN.description)",
            "replication.proto_version": "\(options.protocolVersion)", "replication.streaming": "\(options.streaming.rawValue)",
        ])
    }

    /// The read loop. Runs on the connection's own thread and blocks it (in `poll`) until the
    /// stream ends; it never suspends.
    private func pump(_ shared: StreamShared, statusInterval: Duration, idleTick: Duration?) {
        guard let pg = try? connection() else {
            shared.finish(error: PostgresError(code: .connectionLost, message: "the connection is closed"))
            return
        }
        var loop = PumpLoop(conn: pg.handle, shared: shared, statusInterval: statusInterval, idleTick: idleTick)
        let error = loop.run()
        if let error {
            logger.warning("replication stream ended with an error", metadata: ["error.code": "\(error.code)"])
        }
        shared.finish(error: error)
    }
}

/// The body of the read loop, kept apart from the actor so that its state is plain locals.
private struct PumpLoop {
    let conn: OpaquePointer
    let shared: StreamShared
    let statusInterval: Duration
    let idleTick: Duration?
    let clock = ContinuousClock()

    static let maxFramesPerBatch = 2048
    static let maxBytesPerBatch = 4 << 20

    init(conn: OpaquePointer, shared: StreamShared, statusInterval: Duration, idleTick: Duration?) {
        self.conn = conn
        self.shared = shared
        self.statusInterval = statusInterval
        self.idleTick = idleTick
    }

    mutating func run() -> PostgresError? {
        PQsetnonblocking(conn, 1)
        defer { PQsetnonblocking(conn, 0) }
        let socket = PQsocket(conn)
        var nextStatus = clock.now.advanced(by: statusInterval)
        var outputPending = false
        var lastDelivery = clock.now
        // Frames are read into one reused buffer and each batch gets an exact-size copy (from a
        // buffer pointer: `Array(scratch)` would share the buffer, not copy it): a
        // batch that kept a large reserve would hold it while queued, and a reader ahead of
        // its consumer makes many small batches.
        var scratch: [UInt8] = []
        scratch.reserveCapacity(256 << 10)

        while true {
            let control = shared.control()
            if control.stop { return shutdown() }
            var sendStatus = control.statusRequested || clock.now >= nextStatus
            var batchFull = false

            if !control.paused {
                scratch.removeAll(keepingCapacity: true)
                var frames: [ReplicationFrame] = []
                var serverEnded = false
                while true {
                    if frames.count >= Self.maxFramesPerBatch || scratch.count >= Self.maxBytesPerBatch {
                        batchFull = true
                        break
                    }
                    var buffer: UnsafeMutablePointer<CChar>?
                    let n = Int(PQgetCopyData(conn, &buffer, 1))
                    if n > 0, let buffer {
                        let start = scratch.count
                        scratch.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: n))
                        PQfreemem(buffer)
                        let frame: ReplicationFrame
                        do {
                            frame = try ReplicationFrame.decode(storage: scratch, range: start..<(start + n))
                        } catch {
                            return PostgresError.decoding(error)
                        }
                        if case .primaryKeepalive(let keepalive) = frame, keepalive.replyRequested {
                            sendStatus = true
                        }
                        frames.append(frame)
                    } else if n == 0 {
                        break
                    } else if n == -1 {
                        serverEnded = true
                        break
                    } else {
                        return PostgresError.classifyLost(errorMessage)
                    }
                }
                if !frames.isEmpty {
                    shared.push(ReplicationBatch(storage: scratch.withUnsafeBufferPointer { [UInt8]($0) }, frames: frames))
                    lastDelivery = clock.now
                } else if !serverEnded, let idleTick, lastDelivery.duration(to: clock.now) >= idleTick {
                    shared.push(ReplicationBatch())
                    lastDelivery = clock.now
                }
                if serverEnded { return serverEndedCopy() }
            }

            if sendStatus {
                if let error = sendStandbyStatus() { return error }
                nextStatus = clock.now.advanced(by: statusInterval)
            }
            switch PQflush(conn) {
            case 0: outputPending = false
            case 1: outputPending = true
            default: return PostgresError.classifyLost(errorMessage)
            }
            if batchFull { continue }

            let paused = shared.control().paused
            var fds = [pollfd(fd: shared.wakePipe.readFD, events: Int16(POLLIN), revents: 0)]
            let socketEvents = (paused ? 0 : Int16(POLLIN)) | (outputPending ? Int16(POLLOUT) : 0)
            fds.append(pollfd(fd: socket, events: socketEvents, revents: 0))
            var wakeAt = nextStatus
            if let idleTick { wakeAt = min(wakeAt, lastDelivery.advanced(by: idleTick)) }
            let wait = clock.now.duration(to: wakeAt)
            let timeoutMS = max(0, Int32(min(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000, 60_000)))
            let ready = poll(&fds, nfds_t(fds.count), timeoutMS)
            if ready < 0 && errno != EINTR {
                return PostgresError(code: .connectionLost, message: "poll failed on the replication socket (\(String(cString: strerror(errno))))")
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                shared.wakePipe.drain()
            }
            if fds[1].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
                if PQconsumeInput(conn) == 0 { return PostgresError.classifyLost(errorMessage) }
            }
        }
    }

    var errorMessage: String {
        PGConnection.trim(String(cString: PQerrorMessage(conn)))
    }

    func sendStandbyStatus() -> PostgresError? {
        let positions = shared.positionsForStatus()
        let now = PostgresTimestamp.now()
        let update = StandbyStatusUpdate(write: positions.write, flush: positions.flush, apply: positions.apply, clientTime: now)
        let bytes = update.encode()
        let sent = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) }
        }
        if sent != 1 { return PostgresError.classifyLost(errorMessage) }
        return nil
    }

    /// Final status, CopyDone, then read until the server's CopyDone and the command's results.
    /// Messages that arrive meanwhile are dropped: they were never confirmed, so the slot sends them again.
    mutating func shutdown() -> PostgresError? {
        if let error = sendStandbyStatus() { return error }
        if PQputCopyEnd(conn, nil) != 1 { return PostgresError.classifyLost(errorMessage) }
        let deadline = clock.now.advanced(by: .seconds(30))
        let socket = PQsocket(conn)
        while PQflush(conn) == 1 {
            if clock.now >= deadline { return PostgresError.classifyLost("timed out sending CopyDone") }
            var fd = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
            _ = poll(&fd, 1, 1000)
        }
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let n = PQgetCopyData(conn, &buffer, 1)
            if n > 0 {
                PQfreemem(buffer)
                continue
            }
            if n == -1 { break }
            if n == -2 { return PostgresError.classifyLost(errorMessage) }
            if clock.now >= deadline { return PostgresError.classifyLost("timed out waiting for the server to end the stream") }
            var fd = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, 1000)
            if PQconsumeInput(conn) == 0 { return PostgresError.classifyLost(errorMessage) }
        }
        return drainResults()
    }

    /// The server ended the COPY on its own: its result says why.
    func serverEndedCopy() -> PostgresError? {
        drainResults() ?? PostgresError(
            code: .connectionLost,
            message: "the server ended the replication stream (it may be shutting down). "
                + "Restart to resume from the slot's confirmed position")
    }

    func drainResults() -> PostgresError? {
        PQsetnonblocking(conn, 0)
        var firstError: PostgresError?
        while let raw = PQgetResult(conn) {
            let result = PGResult(raw)
            let status = result.status
            if status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE || status == PGRES_NONFATAL_ERROR, firstError == nil {
                // No SQLSTATE means libpq made the error itself: the connection is gone.
                if result.sqlState == nil || PQstatus(conn) == CONNECTION_BAD {
                    firstError = PostgresError.classifyLost(result.primaryMessage ?? errorMessage)
                } else {
                    firstError = PostgresError.classifyServer(sqlState: result.sqlState, message: result.primaryMessage ?? errorMessage)
                }
            }
        }
        return firstError
    }
}
