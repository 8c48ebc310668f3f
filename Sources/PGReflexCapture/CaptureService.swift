public import PGReflexFiles
import PGReflexJournal
public import ServiceLifecycle
import Synchronization

/// Runs a pipeline (`tail` or `run`) as a service: SIGTERM or SIGINT stops it gracefully
/// (what is done is confirmed, then the stream ends with CopyDone).
public final class CaptureService: Service, Sendable {
    let body: @Sendable () async throws -> CapturePipeline.Summary
    let stop: @Sendable () -> Void
    private let outcome = Mutex<Result<CapturePipeline.Summary, any Error>?>(nil)

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

    public func run() async throws {
        let result: Result<CapturePipeline.Summary, any Error>
        do {
            let stop = self.stop
            result = .success(try await withGracefulShutdownHandler {
                try await body()
            } onGracefulShutdown: {
                stop()
            })
        } catch {
            result = .failure(error)
        }
        outcome.withLock { $0 = result }
    }

    /// How the run ended; nil while running.
    public var result: Result<CapturePipeline.Summary, any Error>? {
        outcome.withLock { $0 }
    }
}
