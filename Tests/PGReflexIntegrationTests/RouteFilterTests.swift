import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

/// The seeds' filters on real changes: envelopes captured from PostgreSQL by `tail`, routed by
/// `pgreflex route test`, and the routes checked against a registry `schema snapshot` wrote.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct RouteFilterTests {
    static let routes = """
        agents: { look: { log: {} } }
        routes:
          fraud_check:
            agent: look
            tables: [public.orders]
            ops: [c]
            if: after.total_amount > 500 || after.is_first_order
          classify_ticket:
            agent: look
            tables: [support_tickets]
            ops: [c]
          reorder:
            agent: look
            tables: [inventory]
            ops: [u]
            columns_changed: [quantity_on_hand]
            if: after.quantity_on_hand < after.reorder_point
          late_complaint:
            agent: look
            tables: [support_tickets]
            if: >
              after.priority == 'high' &&
              (timestamp(after.created_at).getHours('UTC') >= 17 || timestamp(after.created_at).getHours('UTC') < 9)
        """

    @Test func theSeedsFiltersOnRealChanges() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total_amount numeric(12,2), is_first_order boolean);
            CREATE TABLE support_tickets (id int PRIMARY KEY, priority text, body text, created_at timestamptz);
            CREATE TABLE inventory (sku text PRIMARY KEY, quantity_on_hand int, reorder_point int, last_audited_at timestamptz);
            ALTER TABLE inventory REPLICA IDENTITY FULL;
            INSERT INTO inventory VALUES ('a', 10, 5, now());
            CREATE PUBLICATION rf_pub FOR TABLE orders, support_tickets, inventory;
            """)
        try cluster.createSlot("rf_slot")
        try cluster.psql("""
            INSERT INTO orders VALUES (1, 7, 612.50, false), (2, 7, 40.00, false), (3, 8, 40.00, true);
            UPDATE orders SET total_amount = 900 WHERE id = 2;
            INSERT INTO support_tickets VALUES (1, 'high', 'it broke', '2026-11-28 23:15:00+00'), (2, 'low', 'hello', '2026-11-28 12:00:00+00');
            UPDATE inventory SET last_audited_at = now() + interval '1 day' WHERE sku = 'a';
            UPDATE inventory SET quantity_on_hand = 3 WHERE sku = 'a';
            """)
        let end = try cluster.currentInsertLSN()
        let dir = NSTemporaryDirectory() + "pgreflex-routes-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exe = try pgreflexExecutable()
        let tail = PostgresCluster.run([exe, "tail", "--dsn", cluster.conninfo, "--slot", "rf_slot", "--publication", "rf_pub",
                                        "--end-lsn", "\(end)"], standardOutput: dir + "/events.jsonl")
        #expect(tail.status == 0, "\(tail.output)")
        let config = dir + "/run.yaml"
        try """
            source: { dsn_env: PGREFLEX_DSN, slot: rf_slot, publication: rf_pub }
            journal: { directory: ./journal }
            sink: { file: { path: ./events.jsonl } }
            \(Self.routes)
            """.write(toFile: config, atomically: true, encoding: .utf8)

        // Without the DSN set: route test and check connect to nothing.
        let tested = PostgresCluster.run([exe, "route", "test", "--config", config, "--event", dir + "/events.jsonl"], environment: [:])
        #expect(tested.status == 0, "\(tested.output)")
        let blocks = tested.output.components(separatedBy: "event ").dropFirst().map { block in
            Dictionary(uniqueKeysWithValues: block.split(separator: "\n").dropFirst().map { line in
                let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
                return (parts[0], parts[1])
            })
        }
        #expect(blocks.count == 8, "\(tested.output)")
        guard blocks.count == 8 else { return }
        // Orders: a big one and a first order wake the fraud check; a small repeat order and an update do not.
        #expect(blocks[0]["fraud_check"] == "matches")
        #expect(blocks[1]["fraud_check"] == "no: the if condition is false")
        #expect(blocks[2]["fraud_check"] == "matches")
        #expect(blocks[3]["fraud_check"] == "no: operation u is not among the route's ops")
        // Tickets: every new one is classified; the high one outside business hours is a late complaint.
        #expect(blocks[4]["classify_ticket"] == "matches" && blocks[5]["classify_ticket"] == "matches")
        #expect(blocks[4]["late_complaint"] == "matches")
        #expect(blocks[5]["late_complaint"] == "no: the if condition is false")
        #expect(blocks[4]["fraud_check"] == "no: table public.support_tickets is not among the route's tables")
        // Inventory: an audit touch does not wake the reorder agent; the drop below the reorder point does.
        #expect(blocks[6]["reorder"] == "no: none of quantity_on_hand changed")
        #expect(blocks[7]["reorder"] == "matches")

        // Checked against the registry: a typo in a column is an error naming the table's columns.
        let snapshot = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--registry", dir + "/Schemas"])
        #expect(snapshot.status == 0, "\(snapshot.output)")
        let ok = PostgresCluster.run([exe, "check", "--config", config, "--registry", dir + "/Schemas"], environment: [:])
        #expect(ok.status == 0 && ok.output.contains("ok: 1 consumers, 1 agents, 4 routes, routes checked against"), "\(ok.output)")
        try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "after.total_amount", with: "after.totl_amount")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let typo = PostgresCluster.run([exe, "check", "--config", config, "--registry", dir + "/Schemas"], environment: [:])
        #expect(typo.status == 1)
        #expect(typo.output.contains("run.yaml:10:15: routes.fraud_check.if: after.totl_amount is not a column of public.orders v1, the version the stream is on; the columns are customer_id, id, is_first_order, total_amount"), "\(typo.output)")
        #expect(typo.output.contains("warning: ") && typo.output.contains("source.dsn_env names PGREFLEX_DSN, which is not set"), "an unset variable is a warning for check: \(typo.output)")
    }
}
