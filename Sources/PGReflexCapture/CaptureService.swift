public import PGReflexFiles
import PGReflexJournal
public import ServiceLifecycle

/// Runs a pipeline (`tail` or `run`) as a service: SIGTERM or SIGINT stops it gracefully
/// (what is done is confirmed, then the stream ends with CopyDone).
public final class CaptureService: Service, Sendable {
    let body: @Sendable () async throws -> CapturePipeline.Summary
    let stop: @Sendable () -> Void

    public init(run body: @escaping @Sendable () async throws -> CapturePipeline.Summary, stop: @escaping @Sendable () -> Void) {
        self.body = body
        self.stop = stop
    }

    public convenience init(tail pipeline: CapturePipeline, output: FileDescriptorWriter) {
        self.init(run: { try await pipeline.run(output: output) }, stop: { pipeline.requestStop() })
    }

    public convenience init(run pipeline: JournalCapture) {
        self.init(run: { try await pipeline.run() }, stop: { pipeline.requestStop() })
    }

    /// Throws what ended capture, so that the service group's failure handling runs: the other
    /// services stop gracefully, then the group throws it.
    public func run() async throws {
        let stop = self.stop
        _ = try await withGracefulShutdownHandler {
            try await body()
        } onGracefulShutdown: {
            stop()
        }
    }
}
