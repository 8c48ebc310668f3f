import Foundation
import PGReflexTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// PostgreSQL restarts under a running `pgreflex run`: it reconnects, resumes from the slot, and
/// every change reaches the sink.
@Suite(.ownPostgresCluster, .serialized, .timeLimit(.minutes(10)))
struct RestartTests {
    @Test func runReconnectsAfterPostgresRestarts() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE rst (id int PRIMARY KEY, v text); CREATE PUBLICATION rst_pub FOR TABLE rst;")
        try cluster.createSlot("rst_slot")
        let dir = NSTemporaryDirectory() + "pgreflex-restart-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            source: { dsn: "\(cluster.conninfo)", slot: rst_slot, publication: rst_pub }
            journal: { directory: ./journal }
            sink: { file: { path: ./events.jsonl } }
            """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
        let log = dir + "/run.log"
        let run = PostgresCluster.spawn([try pgreflexExecutable(), "run", "--config", dir + "/run.yaml", "--log-level", "info"],
                                        standardError: log)
        defer { kill(run, SIGKILL) }

        func delivered() -> Set<Int> {
            guard let data = FileManager.default.contents(atPath: dir + "/events.jsonl"), let lines = try? parseLines(data) else { return [] }
            return Set(lines.compactMap { $0.after?["id"] as? Int })
        }
        func waitFor(_ count: Int) throws {
            let deadline = Date().addingTimeInterval(60)
            while delivered().count < count && Date() < deadline { usleep(100_000) }
            #expect(delivered().count == count, "delivered \(delivered().count) of \(count); log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }

        for chunk in 0..<5 { try cluster.psql("INSERT INTO rst SELECT i, 'a' FROM generate_series(\(chunk * 1000 + 1), \(chunk * 1000 + 1000)) i") }
        try waitFor(5000)
        try cluster.restart()
        for chunk in 5..<10 { try cluster.psql("INSERT INTO rst SELECT i, 'b' FROM generate_series(\(chunk * 1000 + 1), \(chunk * 1000 + 1000)) i") }
        try waitFor(10000)

        kill(run, SIGTERM)
        #expect(PostgresCluster.wait(run) == 0)
        #expect(delivered() == Set(1...10000))
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("reconnecting"), "\(text)")
    }
}
