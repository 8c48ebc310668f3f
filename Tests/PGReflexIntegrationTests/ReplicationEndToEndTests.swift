import Foundation
import PGReflexCapture
import PGReflexConfig
import PGReflexEnvelope
import PGReflexTestSupport
import PGReflexTransport
import PGReflexWire
import Testing

@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct ReplicationEndToEndTests {
    func options(_ cluster: PostgresCluster, slot: String, publication: String, end: LSN) -> CapturePipeline.Options {
        CapturePipeline.Options(source: .init(dsn: cluster.conninfo, slot: slot, publication: publication), endLSN: end)
    }

    @Test func everyOperationAndMessageArrivesWithItsValuesAndLSN() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE ops_a (id int PRIMARY KEY, name text, amount numeric(10,2), flag bool, doc jsonb, score float8);
            CREATE TABLE ops_b (id int PRIMARY KEY);
            CREATE PUBLICATION ops_pub FOR TABLE ops_a, ops_b;
            """)
        try cluster.createSlot("ops_slot")
        try cluster.psql("""
            INSERT INTO ops_a VALUES (1, 'line1\nquote"', 12.50, true, '{"k": [1, null]}', 'NaN'), (2, NULL, NULL, NULL, NULL, -1.5e300);
            UPDATE ops_a SET name = 'renamed', score = 'Infinity' WHERE id = 1;
            DELETE FROM ops_a WHERE id = 2;
            INSERT INTO ops_b VALUES (7);
            BEGIN; SELECT pg_logical_emit_message(true, 'tx-prefix', 'inside'); INSERT INTO ops_b VALUES (8); COMMIT;
            SELECT pg_logical_emit_message(false, 'nt-prefix', 'outside');
            TRUNCATE ops_a, ops_b;
            """)
        let end = try cluster.currentInsertLSN()
        let reference = try cluster.testDecodingLSNs(copying: "ops_slot", upTo: end)
        let (lines, summary) = try await runTail(options(cluster, slot: "ops_slot", publication: "ops_pub", end: end))
        #expect(summary.stopReason == .endLSN)

        #expect(lines.map(\.op) == ["c", "c", "u", "d", "c", "m", "c", "m", "t", "t"])
        let first = try #require(lines[0].after)
        #expect(first["id"] as? Int == 1)
        #expect(first["name"] as? String == "line1\nquote\"")
        #expect(first["amount"] as? String == "12.50")
        #expect(first["flag"] as? Bool == true)
        #expect((first["doc"] as? [String: Any])?["k"] as? [Any] != nil)
        #expect(first["score"] as? String == "NaN")
        let second = try #require(lines[1].after)
        #expect(second["name"] is NSNull)
        #expect(second["score"] as? Double == -1.5e300)
        #expect(lines[2].after?["name"] as? String == "renamed")
        #expect(lines[2].after?["score"] as? String == "Infinity")
        #expect(lines[3].before?.keys.sorted() == ["id"])
        #expect(lines[3].before?["id"] as? Int == 2)
        let tx = lines[5].json["message"] as! [String: Any]
        #expect(lines[5].transaction != nil)
        #expect(tx["prefix"] as? String == "tx-prefix")
        #expect(tx["content"] as? String == Data("inside".utf8).base64EncodedString())
        #expect(lines[7].transaction == nil)
        #expect(lines[7].xid == nil)
        #expect(Set(lines[8...].compactMap(\.table)) == ["ops_a", "ops_b"])

        // Every LSN matches what PostgreSQL's own test_decoding reports for the same WAL.
        let referenceChanges = reference.filter { $0.data.hasPrefix("table ") || $0.data.hasPrefix("message:") }.map(\.lsn)
        var ours: [LSN] = []
        for line in lines where ours.last != line.lsn || line.op != "t" { ours.append(line.lsn) }
        #expect(ours == referenceChanges)
        // Events of one transaction share its xid and commit LSN; ordinals count from 0.
        let firstTx = lines[0...3]
        #expect(Set(firstTx.map(\.xid)).count == 1)
        #expect(firstTx.map(\.ordinal) == [0, 1, 2, 3])
        #expect(Set(lines.map(\.id)).count == lines.count)
    }

    @Test func alterTableMidStreamUsesTheNewRelation() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE alt (id int PRIMARY KEY, a text); CREATE PUBLICATION alt_pub FOR TABLE alt;")
        try cluster.createSlot("alt_slot")
        try cluster.psql("""
            INSERT INTO alt VALUES (1, 'before');
            ALTER TABLE alt ADD COLUMN added int DEFAULT 5;
            INSERT INTO alt VALUES (2, 'after', 9);
            UPDATE alt SET a = 'again' WHERE id = 1;
            """)
        let end = try cluster.currentInsertLSN()
        let (lines, _) = try await runTail(options(cluster, slot: "alt_slot", publication: "alt_pub", end: end))
        #expect(lines.count == 3)
        #expect(lines[0].after?.keys.sorted() == ["a", "id"])
        #expect(lines[1].after?.keys.sorted() == ["a", "added", "id"])
        #expect(lines[1].after?["added"] as? Int == 9)
        #expect(lines[2].after?["added"] as? Int == 5)
    }

    @Test(arguments: [(1, ReplicationStreamOptions.Streaming.off), (2, .on)])
    func largeTransactionArrivesComplete(version: Int, streaming: ReplicationStreamOptions.Streaming) async throws {
        let cluster = try PostgresCluster.required()
        let name = "big_v\(version)"
        try cluster.psql("CREATE TABLE \(name) (id int PRIMARY KEY, payload text); CREATE PUBLICATION \(name)_pub FOR TABLE \(name);")
        try cluster.createSlot("\(name)_slot")
        // Large against the cluster's logical_decoding_work_mem (64kB): 10k rows stream and spill
        // as 200k do (PGREFLEX_STRESS=full).
        let rows = Stress.size(small: 10_000, full: 200_000)
        try cluster.psql("INSERT INTO \(name) SELECT i, md5(i::text) FROM generate_series(1, \(rows)) i")
        // A large transaction that aborts must leave nothing behind.
        try cluster.psql("BEGIN; INSERT INTO \(name) SELECT i, 'gone' FROM generate_series(\(rows + 1), \(rows + rows * 3 / 10)) i; ROLLBACK;")
        try cluster.psql("INSERT INTO \(name) VALUES (0, 'last')")
        let end = try cluster.currentInsertLSN()
        var opts = options(cluster, slot: "\(name)_slot", publication: "\(name)_pub", end: end)
        opts.protocolVersion = version
        opts.streaming = streaming
        let (lines, summary) = try await runTail(opts)
        #expect(summary.events == rows + 1)
        let ids = lines.compactMap { $0.after?["id"] as? Int }
        #expect(ids.count == rows + 1)
        #expect(Set(ids) == Set(0...rows))
        #expect(!lines.contains { $0.after?["payload"] as? String == "gone" })
        #expect(lines[0].after?["payload"] as? String == "c4ca4238a0b923820dcc509a6f75849b")
        if streaming == .on {
            let streamed = try cluster.psql("SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '\(name)_slot'")
            #expect((Int(streamed) ?? 0) >= 1, "the server should have streamed the large transaction")
        }
    }

    @Test func stopAtEndLSNThenRestartNeitherLosesNorRepeats() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE rs (id int PRIMARY KEY); CREATE PUBLICATION rs_pub FOR TABLE rs;")
        try cluster.createSlot("rs_slot")
        try cluster.psql("INSERT INTO rs SELECT generate_series(1, 500)")
        try cluster.psql("INSERT INTO rs SELECT generate_series(501, 1000)")
        let firstEnd = try cluster.currentInsertLSN()
        // Committed after the end LSN: must not be printed by the first run.
        try cluster.psql("INSERT INTO rs SELECT generate_series(1001, 1500)")
        let (first, firstSummary) = try await runTail(options(cluster, slot: "rs_slot", publication: "rs_pub", end: firstEnd))
        #expect(first.count == 1000)
        let confirmed = try cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'rs_slot'")
        #expect(LSN(confirmed) == firstSummary.confirmedLSN)
        #expect(firstSummary.confirmedLSN <= firstEnd)

        try cluster.psql("INSERT INTO rs SELECT generate_series(1501, 2000)")
        let secondEnd = try cluster.currentInsertLSN()
        let (second, _) = try await runTail(options(cluster, slot: "rs_slot", publication: "rs_pub", end: secondEnd))
        let all = (first + second).compactMap { $0.after?["id"] as? Int }
        #expect(all.count == 2000)
        #expect(Set(all) == Set(1...2000))
        #expect(second.compactMap { $0.after?["id"] as? Int }.min() == 1001)
    }

    @Test func slotWithExportedSnapshotAndIdentifySystem() async throws {
        let cluster = try PostgresCluster.required()
        let connection = try await PostgresConnection.connect(cluster.conninfo, logger: testLogger)
        let identity = try await connection.identifySystem()
        #expect(identity.database == cluster.database)
        #expect(identity.xLogPosition > LSN.invalid)
        let created = try await connection.createSlot("snap_slot", snapshot: .export)
        #expect(created.snapshotName?.isEmpty == false)
        #expect(created.consistentPoint >= identity.xLogPosition)
        let info = try #require(try await connection.slot(named: "snap_slot"))
        #expect(info.plugin == "pgoutput" && !info.active && info.slotType == "logical")
        try await connection.dropSlot("snap_slot")
        #expect(try await connection.slot(named: "snap_slot") == nil)
    }

    @Test func idleExitStopsAfterQuiet() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE idle (id int PRIMARY KEY); CREATE PUBLICATION idle_pub FOR TABLE idle;")
        try cluster.createSlot("idle_slot")
        try cluster.psql("INSERT INTO idle VALUES (1)")
        var opts = CapturePipeline.Options(source: .init(dsn: cluster.conninfo, slot: "idle_slot", publication: "idle_pub"))
        // Long enough for the first change to arrive on a loaded machine (in CI, 800 ms once was
        // not): idleness counts from the start, and a change must come before it.
        opts.idleExit = .seconds(3)
        let (lines, summary) = try await runTail(opts)
        #expect(lines.count == 1)
        #expect(summary.stopReason == .idle)
    }
}
