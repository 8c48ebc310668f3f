import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A table of `rows` rows in its own schema, writers that update, delete (and re-insert) and
/// insert at random, and a `run` in the background: what snapshot tests share.
struct SnapshotFixture {
    let cluster: PostgresCluster
    let schema: String
    let dir: String
    let exe: String

    init(_ schema: String, rows: Int) throws {
        cluster = try PostgresCluster.required()
        self.schema = schema
        dir = NSTemporaryDirectory() + "pgreflex-snap-\(schema)-\(UUID().uuidString)"
        exe = try pgreflexExecutable()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = try cluster.psql("""
            CREATE SCHEMA \(schema); SET search_path = \(schema);
            CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text);
            INSERT INTO items SELECT g, g % 1000, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END FROM generate_series(1, \(rows)) g;
            CREATE PUBLICATION \(schema)_pub FOR TABLE items;
            CREATE PROCEDURE writes(n int, seed float8, per_txn int, max_id bigint, pause float8) LANGUAGE plpgsql AS $$
            DECLARE pending int := 0; k bigint; r float8;
            BEGIN
              PERFORM setseed(seed);
              FOR i IN 1..n LOOP
                r := random();
                k := 1 + floor(random() * max_id)::bigint;
                IF r < 0.55 THEN
                  UPDATE items SET v = v + 1, note = 'u' || i WHERE id = k;
                ELSIF r < 0.70 THEN
                  DELETE FROM items WHERE id = k;
                ELSIF r < 0.80 THEN
                  INSERT INTO items VALUES (k, -i, 'again ' || i) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, note = EXCLUDED.note;
                ELSIF r < 0.85 THEN
                  UPDATE items SET id = 10 * max_id + i WHERE id = k;  -- the key itself changes
                ELSE
                  INSERT INTO items VALUES (2 * max_id + i, i, NULL);
                END IF;
                pending := pending + 1;
                IF pending >= per_txn THEN COMMIT; pending := 0; PERFORM pg_sleep(pause); END IF;
              END LOOP;
              COMMIT;
            END $$;
            """)
    }

    /// Stops a `run` a failed expectation left behind, then removes the directory, and the slot
    /// if a test made one (it would hold WAL in the cluster).
    func remove() {
        PostgresCluster.run(["pkill", "-KILL", "-f", config])
        try? FileManager.default.removeItem(atPath: dir)
        _ = try? cluster.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '\(schema)_slot' AND NOT active")
    }

    var config: String { dir + "/run.yaml" }
    var log: String { dir + "/run.log" }

    /// run.yaml: the table, a file sink, then `rest`.
    func configure(source extra: String = "", _ rest: String = "") throws {
        try """
            source:
              dsn: "\(cluster.conninfo)"
              slot: \(schema)_slot
              publication: \(schema)_pub
              tables: [\(schema).items]
            \(extra)
            journal: { directory: ./journal }
            sink: { file: { path: ./events.jsonl } }
            \(rest)
            """.write(toFile: config, atomically: true, encoding: .utf8)
    }

    func startRun() -> Int32 {
        PostgresCluster.spawn([exe, "run", "--config", config], standardError: log)
    }

    /// `n` random writes in transactions of 5, pausing `pause` seconds after each.
    func writers(_ n: Int, seed: Double, maxID: Int, pause: Double = 0.0005) -> Int32 {
        // Two -c: a procedure that commits cannot run in the implicit transaction of one.
        PostgresCluster.spawn(["psql", cluster.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "SET search_path = \(schema)",
                               "-c", "CALL writes(\(n), \(seed), 5, \(maxID), \(pause))"], standardError: dir + "/writers.log")
    }

    /// Waits (up to a minute) until the writers have committed something: a note only they write.
    func waitForWriters() -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if (try? cluster.psql("SELECT EXISTS (SELECT 1 FROM \(schema).items WHERE note LIKE 'u%' OR note LIKE 'again %')")) == "t" { return true }
            usleep(20_000)
        }
        return false
    }

    /// `snapshot status --format json`, parsed.
    func snapshots() throws -> [[String: Any]] {
        let result = PostgresCluster.run([exe, "snapshot", "status", "--config", config, "--format", "json"])
        guard result.status == 0 else { throw PostgresCluster.Failure(description: result.output) }
        return try result.output.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// Polls until snapshot `id` reaches `state` (or `until` says so); fails after two minutes.
    func waitForSnapshot(_ id: Int, until: ([String: Any]) -> Bool = { $0["state"] as? String == "completed" }) throws -> [String: Any] {
        for _ in 0..<1200 {
            if let job = try snapshots().first(where: { $0["id"] as? Int == id }), until(job) { return job }
            usleep(100_000)
        }
        throw PostgresCluster.Failure(description: "snapshot \(id) did not get there: \(try snapshots()); log: \(logText)")
    }

    var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Stops a background run gracefully, then runs to the current end of the WAL, so that
    /// everything committed is in the sink.
    func finish(_ run: Int32) throws {
        kill(run, SIGTERM)
        #expect(PostgresCluster.wait(run) == 0, "\(logText)")
        let end = try cluster.currentInsertLSN()
        let final = PostgresCluster.run([exe, "run", "--config", config, "--end-lsn", end.description])
        #expect(final.status == 0, "\(final.output)")
    }

    func events(_ file: String = "events.jsonl") throws -> [TailLine] {
        guard let data = FileManager.default.contents(atPath: dir + "/" + file) else { return [] }
        return try parseLines(data)
    }

    /// The table rebuilt from r, c, u and d events in journal order, compared with the table
    /// now, row for row. Returns what differs.
    func rebuildProblems(_ lines: [TailLine]) throws -> [String] {
        var model: [Int: String] = [:]
        func row(_ image: [String: Any]) -> (Int, String) {
            let id = image["id"] as! Int
            return (id, "\(image["v"] as! Int)|\(image["note"] as? String ?? "<null>")")
        }
        for line in lines where line.table == "items" {
            switch line.op {
            case "r", "c":
                let (id, value) = row(line.after!)
                model[id] = value
            case "u":
                if let before = line.before { model[before["id"] as! Int] = nil }
                let (id, value) = row(line.after!)
                model[id] = value
            case "d":
                model[line.before!["id"] as! Int] = nil
            default:
                return ["unexpected op \(line.op)"]
            }
        }
        var problems: [String] = []
        let out = try cluster.psql("SELECT id || '=' || v || '|' || coalesce(note, '<null>') FROM \(schema).items")
        var actual: [Int: String] = [:]
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            actual[Int(parts[0])!] = String(parts[1])
        }
        if actual.count != model.count { problems.append("\(actual.count) rows in the table, \(model.count) rebuilt") }
        for (id, value) in actual where model[id] != value {
            problems.append("id \(id): table \(value), rebuilt \(model[id] ?? "missing")")
        }
        for id in model.keys where actual[id] == nil { problems.append("id \(id): rebuilt but not in the table") }
        return problems
    }
}
