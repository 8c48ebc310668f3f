import Foundation
import PGReflexState
import PGReflexTestSupport
import Testing

/// `pgreflex dlq` over a state store: list with filters (text and JSON), show with the envelope,
/// drop only with --yes. Needs no database.
@Suite(.timeLimit(.minutes(10))) struct DLQCommandTests {
    @Test func listShowAndDrop() async throws {
        let dir = NSTemporaryDirectory() + "pgreflex-dlq-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/run.yaml"
        try "source: { dsn_env: PGREFLEX_DSN, slot: s, publication: p }\njournal: { directory: ./journal }\nsink: { file: { path: ./o } }\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let exe = try pgreflexExecutable()
        let none = PostgresCluster.run([exe, "dlq", "list", "--config", config], environment: [:])
        #expect(none.status == 1 && none.output.contains("no state store in \(dir)/state"), "\(none.output)")

        let store = try SQLiteStateStore(directory: dir + "/state")
        func letter(_ event: String, _ route: String, at seconds: Int64) -> DeadLetter {
            DeadLetter(eventID: event, route: route, agent: "\(route)-agent", table: "public.orders",
                       envelope: Array("{\"id\":\"\(event)\",\"op\":\"c\"}".utf8), errorClass: "permanent",
                       message: "422 Unprocessable Entity", attempts: 1, firstAttempt: seconds * 1_000_000, lastAttempt: seconds * 1_000_000)
        }
        try await store.commit(StateCommit(deadLetters: [letter("e1", "fraud", at: 1_764_460_800), letter("e2", "reorder", at: 1_764_547_200)]))

        let list = PostgresCluster.run([exe, "dlq", "list", "--config", config], environment: [:])
        #expect(list.status == 0)
        #expect(list.output.contains("1\tfraud\tfraud-agent\tpublic.orders\te1\tpermanent\t1\t2025-11-30T00:00:00.000000Z\t422 Unprocessable Entity"),
                "\(list.output)")
        let filtered = PostgresCluster.run([exe, "dlq", "list", "--config", config, "--since", "2025-12-01T00:00:00Z", "--format", "json"],
                                           environment: [:])
        let lines = filtered.output.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("\"event_id\":\"e2\""), "\(filtered.output)")
        let bad = PostgresCluster.run([exe, "dlq", "list", "--config", config, "--since", "yesterday"], environment: [:])
        #expect(bad.status != 0 && bad.output.contains("--since yesterday is not an RFC 3339 time"), "\(bad.output)")

        let show = PostgresCluster.run([exe, "dlq", "show", "--config", config, "--id", "2"], environment: [:])
        #expect(show.status == 0 && show.output.contains("\"envelope\":{\"id\":\"e2\",\"op\":\"c\"}"), "\(show.output)")

        let dry = PostgresCluster.run([exe, "dlq", "drop", "--config", config, "--route", "fraud"], environment: [:])
        #expect(dry.output.contains("would drop 1 dead letters"))
        #expect(try await store.deadLetters(.init()).count == 2)
        let dropped = PostgresCluster.run([exe, "dlq", "drop", "--config", config, "--route", "fraud", "--yes"], environment: [:])
        #expect(dropped.status == 0 && dropped.output.contains("dropped 1 dead letters"), "\(dropped.output)")
        #expect(try await store.deadLetters(.init()).map(\.eventID) == ["e2"])
    }
}
