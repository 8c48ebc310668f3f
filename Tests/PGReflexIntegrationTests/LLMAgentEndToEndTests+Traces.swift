import Foundation
import PGReflexTestSupport
import Testing

/// Golden traces of the demo's workflows (examples/agents.yaml, rule-based exec agents, and
/// examples/agents-llm.yaml, the small local model deciding): recorded once against the real
/// model and database, they verify clean offline with no model and no database, twice; and
/// with --live (the model at temperature 0, the read tools on the database) twice as well.
/// Nothing real happens on the way: no hold is placed, no ticket touched.
extension LLMAgentEndToEndTests {
    @Test func theDemoWorkflowsTracesVerifyOfflineWithNoModelAndLive() async throws {
        let cluster = try PostgresCluster.required()
        let model = try LocalModel.required()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        try cluster.psqlFile(root + "/examples/demo.sql")
        try cluster.psqlFile(root + "/examples/agents.sql")
        // The customer's history, which fraud_review's enrichment reads.
        try cluster.psql("INSERT INTO orders (customer_id, total_amount, status, is_first_order) VALUES (7, 40, 'paid', true), (7, 65, 'paid', false)")
        let dir = NSTemporaryDirectory() + "pgreflex-trace-demo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let events = [
            #"{"before":null,"after":{"id":100,"customer_id":7,"total_amount":"900.00","status":"new","is_first_order":false},"source":{"schema":"public","table":"orders","schema_version":1,"ts_us":1700000000000000},"op":"c","id":"0000000000000100-00000000","key":{"id":100}}"#,
            #"{"before":null,"after":{"id":101,"customer_id":8,"total_amount":"20.00","status":"new","is_first_order":false},"source":{"schema":"public","table":"orders","schema_version":1,"ts_us":1700000001000000},"op":"c","id":"0000000000000101-00000000","key":{"id":101}}"#,
            #"{"before":null,"after":{"id":200,"order_id":100,"priority":2,"subject":"I was charged twice for my order","tags":null},"source":{"schema":"public","table":"support_tickets","schema_version":1,"ts_us":1700000002000000},"op":"c","id":"0000000000000102-00000000","key":{"id":200}}"#,
        ]
        try (events.joined(separator: "\n") + "\n").write(toFile: dir + "/canonical.jsonl", atomically: true, encoding: .utf8)
        let live = ["PGREFLEX_DSN": cluster.conninfo, "PGREFLEX_LLM_URL": model.baseURL]
        // Offline: the model's address leads nowhere and no database is named.
        let offline = ["PGREFLEX_LLM_URL": "http://127.0.0.1:\(try PostgresCluster.freePort())/v1", "PGREFLEX_DSN": ""]
        func pgreflex(_ arguments: [String], _ environment: [String: String]) async throws -> PostgresCluster.RunResult {
            try await runCapturing([try pgreflexExecutable()] + arguments, in: dir, environment: environment)
        }
        for (name, config) in [("rules", "agents.yaml"), ("llm", "agents-llm.yaml")] {
            let record = try await pgreflex(["trace", "record", "--config", root + "/examples/" + config, "--events", dir + "/canonical.jsonl",
                                             "--out", dir + "/traces/\(name).jsonl"], live)
            #expect(record.status == 0 && record.output.contains("recorded 3 events"), "\(config): \(record.output)")
        }
        let recorded = try String(contentsOfFile: dir + "/traces/llm.jsonl", encoding: .utf8)
        #expect(recorded.contains(#""replies":[{"#) && recorded.contains(#""reads":[{"#), "the model's replies and the enrichment's rows are kept: \(recorded.prefix(3000))")
        for config in ["agents.yaml", "agents-llm.yaml"] {
            let trace = dir + "/traces/" + (config == "agents.yaml" ? "rules.jsonl" : "llm.jsonl")
            for _ in 0..<2 {
                let verify = try await pgreflex(["trace", "verify", "--config", root + "/examples/" + config, trace], offline)
                #expect(verify.status == 0 && verify.output.contains("ok: 3 events in 1 trace as recorded"), "\(config) offline: \(verify.output)")
            }
        }
        for _ in 0..<2 {
            let verify = try await pgreflex(["trace", "verify", "--live", "--config", root + "/examples/agents-llm.yaml", dir + "/traces/llm.jsonl"], live)
            #expect(verify.status == 0, "live at temperature 0: \(verify.output)")
        }
        // Nothing real happened: no hold, no draft, no ticket changed.
        #expect(try cluster.psql("SELECT (SELECT count(*) FROM ops.payment_holds) + (SELECT count(*) FROM ops.purchase_order_drafts) + (SELECT count(*) FROM ops.risk_tickets) + (SELECT count(*) FROM support_tickets)")
            .trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}
