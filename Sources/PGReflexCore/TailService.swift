public import ServiceLifecycle
import Synchronization

/// Runs a ``TailPipeline`` as a service: SIGTERM or SIGINT stops it gracefully (the last
/// written transaction is confirmed, then the stream ends with CopyDone).
public final class TailService: Service, Sendable {
    let pipeline: TailPipeline
    let output: FileDescriptorWriter
    private let outcome = Mutex<Result<TailPipeline.Summary, any Error>?>(nil)

    public init(pipeline: TailPipeline, output: FileDescriptorWriter) {
        self.pipeline = pipeline
        self.output = output
    }

    public func run() async throws {
        let result: Result<TailPipeline.Summary, any Error>
        do {
            let summary = try await withGracefulShutdownHandler {
                try await pipeline.run(output: output)
            } onGracefulShutdown: {
                self.pipeline.requestStop()
            }
            result = .success(summary)
        } catch {
            result = .failure(error)
        }
        outcome.withLock { $0 = result }
    }

    /// How the run ended; nil while running.
    public var result: Result<TailPipeline.Summary, any Error>? {
        outcome.withLock { $0 }
    }
}
