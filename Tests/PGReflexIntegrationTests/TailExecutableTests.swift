import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

/// The real `pgreflex tail` executable against a mixed 100k-change workload: every change
/// printed exactly once, with values that rebuild the tables' final state.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct TailExecutableTests {
    @Test func mixedWorkloadPrintsEveryChangeExactlyOnce() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql(MixedWorkload.setup)
        try cluster.createSlot("w_slot")
        let model = try MixedWorkload.snapshot(cluster)
        let changes = Stress.size(small: 20_000, full: 100_000)
        try cluster.psql("CALL w_mixed(\(changes), 10)")
        let end = try cluster.currentInsertLSN()
        let referenceCount = try cluster.testDecodingRowChanges(copying: "w_slot", upTo: end)

        let outPath = NSTemporaryDirectory() + "pgreflex-mixed-\(UUID().uuidString).jsonl"
        defer { unlink(outPath) }
        let result = PostgresCluster.run(
            [try pgreflexExecutable(), "tail", "--dsn", cluster.conninfo, "--slot", "w_slot", "--publication", "w_pub",
             "--end-lsn", end.description, "--log-level", "warning"],
            standardOutput: outPath)
        #expect(result.status == 0, "pgreflex tail failed: \(result.output)")
        let lines = try parseLines(Data(contentsOf: URL(fileURLWithPath: outPath)))

        #expect(referenceCount == changes)
        #expect(lines.count == referenceCount)
        var seen = Set<String>()
        for line in lines where !seen.insert(line.id).inserted { Issue.record("repeated \(line.id)") }
        let problems = try MixedWorkload.rebuild(model, from: lines, against: cluster)
        #expect(problems.isEmpty, "\(problems.prefix(10))")
        let confirmed = try cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'w_slot'")
        #expect(LSN(confirmed)! >= lines.last!.commitLSN!)
    }

    @Test func badFlagsAndMissingSlotFailClearly() throws {
        let cluster = try PostgresCluster.required()
        let exe = try pgreflexExecutable()
        let badLSN = PostgresCluster.run([exe, "tail", "--dsn", cluster.conninfo, "--slot", "x", "--publication", "p", "--end-lsn", "nope"])
        #expect(badLSN.status != 0)
        #expect(badLSN.output.contains("end-lsn"))
        try cluster.psql("CREATE PUBLICATION bf_pub FOR ALL TABLES")
        let missing = PostgresCluster.run([exe, "tail", "--dsn", cluster.conninfo, "--slot", "absent_slot", "--publication", "bf_pub", "--idle-exit", "1"])
        #expect(missing.status == 1)
        #expect(missing.output.contains("slot_not_found"))
        #expect(missing.output.contains("--create-slot"))
    }
}
