import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

/// The real `pgreflex tail` executable against a mixed 100k-change workload: every change
/// printed exactly once, with values that rebuild the tables' final state.
@Suite(.postgresCluster, .serialized)
struct TailExecutableTests {
    @Test func mixedWorkloadPrintsEveryChangeExactlyOnce() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql(MixedWorkload.setup)
        try cluster.createSlot("w_slot")
        var model = try MixedWorkload.snapshot(cluster)
        try cluster.psql("CALL w_mixed(100000, 10)")
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

        #expect(referenceCount == 100_000)
        #expect(lines.count == referenceCount)
        var seen = Set<String>()
        var problems: [String] = []
        for line in lines {
            let identity = line.id
            if !seen.insert(identity).inserted { problems.append("repeated \(identity)") }
            let table = line.table!
            let after = line.after.map { row in Dictionary(uniqueKeysWithValues: row.map { ($0.key, MixedWorkload.text($0.value, column: $0.key)) }) }
            let before = line.before.map { row in Dictionary(uniqueKeysWithValues: row.map { ($0.key, MixedWorkload.text($0.value, column: $0.key)) }) }
            switch line.op {
            case "c":
                let key = MixedWorkload.key(table, after!)
                if model[table]![key] != nil { problems.append("insert of existing \(table) \(key)") }
                model[table]![key] = after!
            case "u":
                let oldKey = MixedWorkload.key(table, before ?? after!)
                if model[table]![oldKey] == nil { problems.append("update of missing \(table) \(oldKey)") }
                if table == "w_stock", let before, let old = model[table]![oldKey],
                   before.contains(where: { !MixedWorkload.same($0.value, old[$0.key] ?? nil, column: $0.key) }) {
                    problems.append("REPLICA IDENTITY FULL before image differs for \(oldKey)")
                }
                model[table]![oldKey] = nil
                model[table]![MixedWorkload.key(table, after!)] = after!
            case "d":
                let key = MixedWorkload.key(table, before!)
                if model[table]!.removeValue(forKey: key) == nil { problems.append("delete of missing \(table) \(key)") }
            default:
                problems.append("unexpected op \(line.op)")
            }
        }
        let final = try MixedWorkload.snapshot(cluster)
        for (table, rows) in final {
            #expect(rows.count == model[table]!.count, "\(table): \(rows.count) rows in the database, \(model[table]!.count) rebuilt")
            for (key, row) in rows {
                guard let ours = model[table]![key] else { problems.append("\(table) \(key) missing"); continue }
                for (column, value) in row where !MixedWorkload.same(ours[column] ?? nil, value, column: column) {
                    problems.append("\(table) \(key).\(column): \(String(describing: ours[column] ?? nil)) != \(String(describing: value))")
                }
            }
        }
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
        let missing = PostgresCluster.run([exe, "tail", "--dsn", cluster.conninfo, "--slot", "absent_slot", "--publication", "p", "--idle-exit", "1"])
        #expect(missing.status == 1)
        #expect(missing.output.contains("slot_not_found"))
        #expect(missing.output.contains("--create-slot"))
    }
}
