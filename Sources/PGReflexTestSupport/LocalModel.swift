import Foundation
public import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real language model behind a real OpenAI-compatible server (llama.cpp's, with
/// SmolLM2-135M), on 127.0.0.1 and a free port, for the LLM agent's tests. Set up by
/// `examples/llm/setup.sh .build/llm-venv` (`.ci/run` does it); served by `examples/llm/serve.py`.
public struct LocalModel: Sendable {
    /// `http://127.0.0.1:PORT/v1`
    public let baseURL: String
    let pid: pid_t
    let log: String

    static var root: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    public static func start() throws -> LocalModel {
        let venv = root + "/.build/llm-venv"
        let setup = PostgresCluster.run(["bash", root + "/examples/llm/setup.sh", venv])
        guard setup.status == 0, let model = setup.output.split(separator: "\n").last.map(String.init), FileManager.default.fileExists(atPath: model) else {
            throw PostgresCluster.Failure(description: "the local model is not set up: run examples/llm/setup.sh .build/llm-venv (\(setup.output.suffix(400)))")
        }
        let port = try PostgresCluster.freePort()
        let log = NSTemporaryDirectory() + "pgreflex-llm-\(port).log"
        let pid = PostgresCluster.spawn([venv + "/bin/python", root + "/examples/llm/serve.py", model, "\(port)"], standardOutput: log, standardError: log)
        let server = LocalModel(baseURL: "http://127.0.0.1:\(port)/v1", pid: pid, log: log)
        // Loading takes about two seconds; it answers 503 until the model is in.
        for _ in 0..<240 {
            if PostgresCluster.run(["curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/v1/models"]).status == 0 { return server }
            if waitpid(pid, nil, WNOHANG) == pid { break }
            usleep(250_000)
        }
        server.stop()
        throw PostgresCluster.Failure(description: "the local model server did not start: \((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(800) ?? "")")
    }

    public func stop() {
        kill(pid, SIGKILL)
        _ = PostgresCluster.wait(pid)
        unlink(log)
    }

    @TaskLocal public static var current: LocalModel?

    public static func required() throws -> LocalModel {
        guard let current else { throw PostgresCluster.Failure(description: "this test needs the local model: add .localModel to its suite") }
        return current
    }
}

/// Gives a suite the local model, started before its first test and stopped after its last.
public struct LocalModelTrait: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let model = try LocalModel.start()
        defer { model.stop() }
        try await LocalModel.$current.withValue(model) { try await function() }
    }
}

extension Trait where Self == LocalModelTrait {
    public static var localModel: Self { LocalModelTrait() }
}
