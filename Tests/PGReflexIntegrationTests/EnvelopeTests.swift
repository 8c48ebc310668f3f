import Foundation
import PGReflexCapture
import PGReflexConfig
import PGReflexEnvelope
import PGReflexTestSupport
import PGReflexTransport
import PGReflexWire
import Testing

/// Debezium-compatible envelopes from real WAL: replica identities, key changes, TOAST,
/// transaction metadata, stable ids, and the field layout against a golden file.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct EnvelopeTests {
    func tail(_ slot: String, _ publication: String, transactionEvents: Bool = false) async throws -> [TailLine] {
        let cluster = try PostgresCluster.required()
        var options = CapturePipeline.Options(source: .init(dsn: cluster.conninfo, slot: slot, publication: publication),
                                           endLSN: try cluster.currentInsertLSN())
        options.transactionEvents = transactionEvents
        return try await runTail(options).lines
    }

    @Test func beforeImagesFollowTheReplicaIdentity() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE ri_default (id int PRIMARY KEY, v text);
            CREATE TABLE ri_full (id int PRIMARY KEY, v text); ALTER TABLE ri_full REPLICA IDENTITY FULL;
            CREATE TABLE ri_nothing (id int PRIMARY KEY, v text); ALTER TABLE ri_nothing REPLICA IDENTITY NOTHING;
            CREATE TABLE ri_nokey (v text);
            CREATE PUBLICATION ri_pub FOR TABLE ri_default, ri_full, ri_nothing, ri_nokey WITH (publish = 'insert, update, delete, truncate');
            INSERT INTO ri_default VALUES (1, 'a'); INSERT INTO ri_full VALUES (1, 'a'); INSERT INTO ri_nothing VALUES (1, 'a');
            """)
        try cluster.createSlot("ri_slot")
        try cluster.psql("""
            UPDATE ri_default SET v = 'b' WHERE id = 1; DELETE FROM ri_default WHERE id = 1;
            UPDATE ri_full SET v = 'b' WHERE id = 1; DELETE FROM ri_full WHERE id = 1;
            INSERT INTO ri_nokey VALUES ('x');
            """)
        // ri_nothing: updates and deletes need an identity; PostgreSQL refuses them when published.
        #expect(throws: PostgresCluster.Failure.self) { try cluster.psql("UPDATE ri_nothing SET v = 'b'") }
        let lines = try await tail("ri_slot", "ri_pub")
        #expect(lines.map(\.op) == ["u", "d", "u", "d", "c"])
        #expect(lines[0].before == nil)
        #expect(lines[1].before?.keys.sorted() == ["id"])
        #expect(lines[2].before?["v"] as? String == "a")
        #expect(lines[3].before?.keys.sorted() == ["id", "v"])
        #expect(lines[0].key?["id"] as? Int == 1)
        #expect(lines[3].key?["id"] as? Int == 1)
        #expect(lines[4].json["key"] is NSNull)
    }

    @Test func primaryKeyChangeIsDeleteThenCreate() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE pk_default (id int PRIMARY KEY, v text);
            CREATE TABLE pk_full (id int PRIMARY KEY, v text); ALTER TABLE pk_full REPLICA IDENTITY FULL;
            CREATE PUBLICATION pk_pub FOR TABLE pk_default, pk_full;
            INSERT INTO pk_default VALUES (1, 'a'); INSERT INTO pk_full VALUES (1, 'a');
            """)
        try cluster.createSlot("pk_slot")
        try cluster.psql("UPDATE pk_default SET id = 2 WHERE id = 1; UPDATE pk_full SET id = 2 WHERE id = 1; UPDATE pk_full SET v = 'z'")
        let lines = try await tail("pk_slot", "pk_pub")
        #expect(lines.map(\.op) == ["d", "c", "d", "c", "u"])
        #expect(lines[0].before?["id"] as? Int == 1)
        #expect(lines[0].key?["id"] as? Int == 1)
        #expect(lines[1].after?["id"] as? Int == 2)
        #expect(lines[1].key?["id"] as? Int == 2)
        #expect(lines[2].before?["v"] as? String == "a")
        #expect(lines[3].after?["id"] as? Int == 2)
        #expect(Set(lines.map(\.id)).count == 5)
    }

    @Test func unchangedToastGetsThePlaceholderOrTheOldValue() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE toast_default (id int PRIMARY KEY, big text, n int);
            CREATE TABLE toast_full (id int PRIMARY KEY, big text, n int); ALTER TABLE toast_full REPLICA IDENTITY FULL;
            ALTER TABLE toast_default ALTER COLUMN big SET STORAGE EXTERNAL;
            ALTER TABLE toast_full ALTER COLUMN big SET STORAGE EXTERNAL;
            CREATE PUBLICATION toast_pub FOR TABLE toast_default, toast_full;
            INSERT INTO toast_default VALUES (1, repeat('x', 10000), 0);
            INSERT INTO toast_full VALUES (1, repeat('y', 10000), 0);
            """)
        try cluster.createSlot("toast_slot")
        try cluster.psql("UPDATE toast_default SET n = 1; UPDATE toast_full SET n = 1;")
        let lines = try await tail("toast_slot", "toast_pub")
        #expect(lines.count == 2)
        #expect(lines[0].after?["big"] as? String == "__debezium_unavailable_value")
        #expect(lines[0].after?["n"] as? Int == 1)
        #expect(lines[1].after?["big"] as? String == String(repeating: "y", count: 10000))
        #expect(lines[1].before?["big"] as? String == String(repeating: "y", count: 10000))
    }

    @Test func transactionEventsAndOrders() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE tx_a (id int PRIMARY KEY); CREATE TABLE tx_b (id int PRIMARY KEY);
            CREATE PUBLICATION tx_pub FOR TABLE tx_a, tx_b;
            """)
        try cluster.createSlot("tx_slot")
        try cluster.psql("BEGIN; INSERT INTO tx_a VALUES (1); INSERT INTO tx_b VALUES (1); INSERT INTO tx_a VALUES (2); COMMIT;")
        let lines = try await tail("tx_slot", "tx_pub", transactionEvents: true)
        #expect(lines.count == 5)
        #expect(lines[0].json["status"] as? String == "BEGIN")
        #expect(lines[4].json["status"] as? String == "END")
        #expect(lines[4].json["event_count"] as? Int == 3)
        let collections = lines[4].json["data_collections"] as? [[String: Any]]
        #expect(collections?.map { $0["data_collection"] as? String } == ["public.tx_a", "public.tx_b"])
        #expect(collections?.map { $0["event_count"] as? Int } == [2, 1])
        let changes = Array(lines[1...3])
        #expect(changes.map { $0.transaction?["total_order"] as? Int } == [1, 2, 3])
        #expect(changes.map { $0.transaction?["data_collection_order"] as? Int } == [1, 1, 2])
        let id = try #require(lines[0].json["id"] as? String)
        #expect(changes.allSatisfy { $0.transaction?["id"] as? String == id })
        #expect(lines[4].json["id"] as? String == id)
    }

    @Test func idsAreStableAcrossASecondReadOfTheSameWAL() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE ids (id int PRIMARY KEY, v int); CREATE PUBLICATION ids_pub FOR TABLE ids;")
        try cluster.createSlot("ids_slot")
        try cluster.psql("""
            INSERT INTO ids SELECT i, i FROM generate_series(1, 50) i;
            UPDATE ids SET v = v + 1 WHERE id <= 10;
            DELETE FROM ids WHERE id > 45;
            """)
        try cluster.psql("SELECT pg_copy_logical_replication_slot('ids_slot', 'ids_again', false)")
        let first = try await tail("ids_slot", "ids_pub")
        let second = try await tail("ids_again", "ids_pub")
        #expect(first.count == 65)
        #expect(first.map(\.id) == second.map(\.id))
        #expect(Set(first.map(\.id)).count == 65)
        // A multi-row INSERT: changes that share LSN-ordered position get distinct ids, in order.
        #expect(first.map(\.id) == first.map(\.id).sorted())
    }

    @Test func fieldLayoutMatchesTheGoldenFile() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE golden (id int PRIMARY KEY, name text, price numeric(6,2), ok bool, doc jsonb);
            CREATE PUBLICATION golden_pub FOR TABLE golden;
            """)
        try cluster.createSlot("golden_slot")
        try cluster.psql("""
            INSERT INTO golden VALUES (1, 'first', 9.99, true, '{"a": [1, 2]}');
            UPDATE golden SET name = 'second' WHERE id = 1;
            DELETE FROM golden WHERE id = 1;
            TRUNCATE golden;
            SELECT pg_logical_emit_message(true, 'golden', 'payload');
            """)
        let lines = try await tail("golden_slot", "golden_pub")
        let normalized = lines.map { Self.normalize($0.raw) }.joined(separator: "\n") + "\n"
        let goldenPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/envelopes.jsonl")
        if ProcessInfo.processInfo.environment["PGREFLEX_UPDATE_GOLDEN"] != nil {
            // Updating is its own command (docs/development.md), and it never passes: the new
            // file is for a person to review, then the test is run again without the variable.
            try normalized.write(to: goldenPath, atomically: true, encoding: .utf8)
            Issue.record("rewrote \(goldenPath.path): review `git diff`, then run the test again without PGREFLEX_UPDATE_GOLDEN")
            return
        }
        let golden = try String(contentsOf: goldenPath, encoding: .utf8)
        #expect(normalized == golden)
    }

    /// Replaces what changes from run to run (times, LSNs, xids, the test database's name) with
    /// placeholders.
    static func normalize(_ line: String) -> String {
        var text = line
        let patterns: [(String, String)] = [
            (#""(ts_ms|ts_us|ts_ns|lsn|txId)":\d+"#, #""$1":N"#),
            (#""sequence":"\[[^\]]*\]""#, #""sequence":"[SEQ]""#),
            (#""id":"\d+:\d+""#, #""id":"XID:LSN""#),
            (#""db":"[a-z0-9_]+""#, #""db":"DB""#),
            (#""id":"[0-9a-f]{16}-([0-9a-f]{8})""#, #""id":"LSN-$1""#),
        ]
        for (pattern, template) in patterns {
            let regex = try! NSRegularExpression(pattern: pattern)
            text = regex.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
        }
        return text
    }
}
