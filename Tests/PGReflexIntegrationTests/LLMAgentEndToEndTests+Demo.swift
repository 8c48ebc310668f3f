import Foundation
import PGReflexTestSupport
import Testing

/// `pgreflex demo --llm-url` against the small local model (../shared/llm): the demo times the
/// model first and sizes the LLM routes and the traffic to it, so that every call finishes. In
/// the LLM suite, so that its model serves one test at a time: timings taken while another test
/// drives the model would be theirs too.
extension LLMAgentEndToEndTests {
    @Test func theDemoSizesItselfToTheModelAndEveryCallFinishes() async throws {
        let dir = NSTemporaryDirectory() + "pgreflex-demo-llm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try LocalModel.required()
        let status = try await runWithoutBlocking(
            ["/usr/bin/env", "-C", dir, try pgreflexExecutable(), "demo", "--duration", "8", "--llm-url", model.baseURL],
            log: dir + "/demo.err", standardOutput: dir + "/demo.out")
        let output = (try? String(contentsOfFile: dir + "/demo.out", encoding: .utf8)) ?? ""
        let log = (try? String(contentsOfFile: dir + "/demo.err", encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)\n\(log.suffix(3000))")
        // What it chose, in the summary: the model's time per call, the concurrency and the rate.
        let sized = output.firstMatch(of: /sized to the model: one call took .*; LLM routes' concurrency (\d+), traffic (\d+) changes\/s/)
        #expect(sized != nil, "\(output)")
        if let sized { #expect(Int(sized.2)! < 50, "the rate came down from the default 50 for a small model: \(output)") }
        // Every LLM call finished; none was abandoned at the end.
        let calls = output.firstMatch(of: /LLM calls: (\d+) finished \((\d+) ok, (\d+) dead-lettered\), (\d+) abandoned/)
        #expect(calls.map { Int($0.1)! > 0 && Int($0.4)! == 0 } == true, "\(output)\n\(log.suffix(2000))")
    }
}
