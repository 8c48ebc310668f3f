import Foundation
import PGReflexTestSupport

/// A deterministic mixed workload over three tables: inserts, updates and deletes of
/// `w_orders` (replica identity DEFAULT), inserts into `w_tickets` (with a text[] column) and
/// upserts into `w_stock` (composite key, REPLICA IDENTITY FULL, jsonb).
enum MixedWorkload {
    static let setup = """
        CREATE TABLE w_orders (id bigserial PRIMARY KEY, customer_id bigint, total numeric(12,2), status text,
                               first_order bool, email text, created_at timestamptz DEFAULT now(), notes text);
        CREATE TABLE w_tickets (id bigserial PRIMARY KEY, order_id bigint, priority smallint, subject text,
                                tags text[], opened_at timestamptz DEFAULT now());
        CREATE TABLE w_stock (sku text, warehouse int, qty int, attrs jsonb, PRIMARY KEY (sku, warehouse));
        ALTER TABLE w_stock REPLICA IDENTITY FULL;
        INSERT INTO w_stock SELECT 'S' || s, w, 10, jsonb_build_object('c', s % 3) FROM generate_series(1, 200) s, generate_series(1, 2) w;
        CREATE PUBLICATION w_pub FOR TABLE w_orders, w_tickets, w_stock;
        CREATE PROCEDURE w_mixed(n int, per_txn int) LANGUAGE plpgsql AS $$
        DECLARE lo bigint; hi bigint; pending int := 0;
        BEGIN
          FOR i IN 1..n LOOP
            CASE
              WHEN i % 10 < 5 THEN
                INSERT INTO w_orders (customer_id, total, status, first_order, email, notes)
                VALUES (i % 997, (i % 100000) / 100.0, (ARRAY['new', 'paid', 'sent'])[1 + i % 3], i % 7 = 0,
                        'user' || i || '@example.com', CASE WHEN i % 9 = 0 THEN NULL ELSE 'note ' || i || ' "q" é\\' END);
              WHEN i % 10 < 7 THEN
                SELECT min(id), max(id) INTO lo, hi FROM w_orders;
                UPDATE w_orders SET status = 'upd', total = total + 1, notes = 'u' || i
                 WHERE id = lo + (i * 7919) % (hi - lo + 1);
              WHEN i % 10 = 7 THEN
                DELETE FROM w_orders WHERE id = (SELECT min(id) FROM w_orders);
              WHEN i % 10 = 8 THEN
                INSERT INTO w_tickets (order_id, priority, subject, tags)
                VALUES (i, (i % 4)::smallint, 'ticket ' || i, ARRAY['t' || (i % 3), NULL, 'x,y']);
              ELSE
                INSERT INTO w_stock VALUES ('S' || (1 + i % 300), 1 + i % 2, 1, jsonb_build_object('i', i))
                ON CONFLICT (sku, warehouse) DO UPDATE SET qty = w_stock.qty + 1, attrs = EXCLUDED.attrs;
            END CASE;
            pending := pending + 1;
            IF pending >= per_txn THEN COMMIT; pending := 0; END IF;
          END LOOP;
          COMMIT;
        END $$;
        """

    /// Each table's rows as text, keyed by primary key (`id`, or `sku|warehouse`).
    static func snapshot(_ cluster: PostgresCluster) throws -> [String: [String: [String: String?]]] {
        let queries = [
            "w_orders": "SELECT json_build_object('id', id::text, 'customer_id', customer_id::text, 'total', total::text, 'status', status, 'first_order', first_order::text, 'email', email, 'created_at', to_jsonb(created_at) #>> '{}', 'notes', notes) FROM w_orders",
            "w_tickets": "SELECT json_build_object('id', id::text, 'order_id', order_id::text, 'priority', priority::text, 'subject', subject, 'tags', array_to_json(tags)::text, 'opened_at', to_jsonb(opened_at) #>> '{}') FROM w_tickets",
            "w_stock": "SELECT json_build_object('sku', sku, 'warehouse', warehouse::text, 'qty', qty::text, 'attrs', attrs::text) FROM w_stock",
        ]
        var result: [String: [String: [String: String?]]] = [:]
        for (table, query) in queries {
            var rows: [String: [String: String?]] = [:]
            let out = try cluster.psql("SET TimeZone = 'UTC'; " + query)
            for line in out.split(separator: "\n") {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                let row = object.mapValues { $0 as? String }
                rows[key(table, row)] = row
            }
            result[table] = rows
        }
        return result
    }

    static func key(_ table: String, _ row: [String: String?]) -> String {
        table == "w_stock" ? "\(row["sku"]!!)|\(row["warehouse"]!!)" : row["id"]!!
    }

    /// A tail value as the text PostgreSQL prints for it.
    static func text(_ value: Any, column: String) -> String? {
        switch value {
        case is NSNull: return nil
        case let string as String: return string
        case let number as NSNumber where column == "first_order": return number.boolValue ? "true" : "false"
        case let number as NSNumber: return number.stringValue
        default:
            let data = try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Compares values: json and arrays by value, timestamps with to_jsonb's +00:00 read as Z.
    static func same(_ ours: String?, _ theirs: String?, column: String) -> Bool {
        if ours == theirs { return true }
        guard let ours, let theirs else { return false }
        if theirs.hasSuffix("+00:00"), ours == theirs.dropLast(6) + "Z" { return true }
        if column == "attrs" || column == "tags" {
            let a = try? JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: Data(ours.utf8)), options: .sortedKeys)
            let b = try? JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: Data(theirs.utf8)), options: .sortedKeys)
            return a != nil && a == b
        }
        return false
    }

    /// Applies the events to `model` (the tables' state when the slot was created) and compares
    /// the result with the tables now. Returns what differs: nothing when no change was lost,
    /// repeated or wrong.
    static func rebuild(_ initial: [String: [String: [String: String?]]], from lines: [TailLine],
                        against cluster: PostgresCluster) throws -> [String] {
        var model = initial
        var problems: [String] = []
        func text(_ row: [String: Any]?) -> [String: String?]? {
            row.map { row in Dictionary(uniqueKeysWithValues: row.map { ($0.key, MixedWorkload.text($0.value, column: $0.key)) }) }
        }
        for line in lines {
            let table = line.table!
            let after = text(line.after)
            let before = text(line.before)
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
        for (table, rows) in try snapshot(cluster) {
            if rows.count != model[table]!.count {
                problems.append("\(table): \(rows.count) rows in the database, \(model[table]!.count) rebuilt")
            }
            for (key, row) in rows {
                guard let ours = model[table]![key] else { problems.append("\(table) \(key) missing"); continue }
                for (column, value) in row where !same(ours[column] ?? nil, value, column: column) {
                    problems.append("\(table) \(key).\(column): \(String(describing: ours[column] ?? nil)) != \(String(describing: value))")
                }
            }
        }
        return problems
    }
}
