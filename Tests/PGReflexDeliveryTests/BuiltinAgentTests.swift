import Foundation
import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexDelivery
import PGReflexFiles
import Testing

/// The built-in agents behind the one agent protocol: what they do, and how their failures are
/// classified for the retry rules.
@Suite struct BuiltinAgentTests {
    func call(_ ids: [String]) -> AgentCall {
        AgentCall(route: "r", events: ids.map { AgentEvent(id: $0, table: "public.orders", op: "c", envelope: Array("{\"id\":\"\($0)\"}\n".utf8)) },
                  idempotencyKey: "r:a:\(ids[0])")
    }

    @Test func theFileAgentAppendsDurablyAndClassifiesFailures() async throws {
        let path = NSTemporaryDirectory() + "pgreflex-agent-\(UUID().uuidString).jsonl"
        defer { unlink(path) }
        let agent = try FileAgent(name: "a", path: path, setting: "agents.a.file.path")
        #expect(await agent.handle(call(["e1", "e2"])) == .success(output: nil))
        #expect(await agent.handle(call(["e3"])) == .success(output: nil))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"id\":\"e1\"}\n{\"id\":\"e2\"}\n{\"id\":\"e3\"}\n")
        // A full disk is worth retrying; nothing was acknowledged.
        let full = try FileAgent(name: "full", path: "/dev/full", setting: "agents.full.file.path")
        guard case .failure(let error) = await full.handle(call(["e4"])) else { Issue.record("/dev/full took a write"); return }
        #expect(error.code == .temporary && error.isRetryable)
        #expect(error.message.contains("agents.full.file.path") || error.message.contains("free space"), "\(error.message)")
        #expect(throws: SinkError.self) { try FileAgent(name: "dir", path: NSTemporaryDirectory(), setting: "agents.dir.file.path") }
    }

    @Test func logAndNoopSucceed() async {
        #expect(await LogAgent(name: "l", logger: Logger(label: "test")).handle(call(["e1"])) == .success(output: nil))
        #expect(await NoopAgent(name: "n").handle(call(["e1"])) == .success(output: nil))
        #expect(AgentError(code: .permanent, message: "422").isRetryable == false)
        #expect(AgentError(code: .disabled, message: "410").isRetryable == false)
        #expect(AgentError(code: .throttled, message: "429", retryAfter: .seconds(3)).isRetryable)
    }
}
