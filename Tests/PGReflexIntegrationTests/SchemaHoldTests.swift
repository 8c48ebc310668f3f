import Foundation
import PGReflexJournal
import PGReflexSchema
import PGReflexTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `schemas.on_new_version: hold`: a table's events wait in the journal while its new schema
/// version is pending, other tables go on, a restart keeps the hold without duplicates, and
/// `pgreflex schema accept` lets a running `run` deliver them, in order. Real server, real
/// executable.
@Suite(.postgresCluster, .timeLimit(.minutes(10)))
struct SchemaHoldTests {
    @Test func aPendingVersionHoldsItsTableUntilAcceptedAndNothingIsLostOrRepeated() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE ho (id int PRIMARY KEY, a text NOT NULL); CREATE TABLE ho_other (id int PRIMARY KEY);
            CREATE TABLE ho_mark (id int PRIMARY KEY);
            CREATE PUBLICATION ho_pub FOR TABLE ho, ho_other, ho_mark;
            """)
        try cluster.createSlot("ho_slot")
        let dir = NSTemporaryDirectory() + "pgreflex-hold-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exe = try pgreflexExecutable()
        let registry = dir + "/Schemas"
        let snapshot = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--registry", registry,
                                            "--tables", "public.ho,public.ho_other"])
        #expect(snapshot.status == 0, "\(snapshot.output)")
        let config = dir + "/run.yaml"
        try """
            source: { dsn: "\(cluster.conninfo)", slot: ho_slot, publication: ho_pub, heartbeat_interval_ms: 200 }
            journal: { directory: ./journal }
            sink: { file: { path: ./events.jsonl } }
            schemas:
              directory: ./Schemas
              tables: { public.ho: { on_new_version: hold } }
            """.write(toFile: config, atomically: true, encoding: .utf8)

        /// `table op id` per delivered line, in sink order; `ho_mark`'s rows are the test's own
        /// markers (below), left out.
        func delivered(marks: Bool = false) throws -> [String] {
            guard let data = FileManager.default.contents(atPath: dir + "/events.jsonl") else { return [] }
            return try parseLines(data).filter { marks || $0.table != "ho_mark" }.map { line in
                "\(line.table!) \(line.op) \((line.after ?? line.before)?["id"] as? Int ?? -1) v\(line.source["schema_version"] as? Int ?? 0)"
            }
        }

        /// Runs each statement, then `run` until everything they wrote is delivered or held.
        func runAfter(_ statements: [String]) throws -> (output: String, end: String) {
            for statement in statements { try cluster.psql(statement) }
            let end = "\(try cluster.currentInsertLSN())"
            let run = PostgresCluster.run([exe, "run", "--config", config, "--end-lsn", end])
            #expect(run.status == 0, "\(run.output)")
            return (run.output, end)
        }

        let (first, firstEnd) = try runAfter([
            "INSERT INTO ho VALUES (1, 'a'), (2, 'b'); INSERT INTO ho_other VALUES (1)", "ALTER TABLE ho ADD COLUMN b int",
            "INSERT INTO ho VALUES (3, 'c', 3)", "INSERT INTO ho_other VALUES (2)",
            "BEGIN; UPDATE ho SET b = 1 WHERE id = 1; INSERT INTO ho_other VALUES (3); COMMIT",
        ])
        // ho stops at its first v2 event; ho_other goes on, including the row that shares a transaction with a held one.
        let beforeAccept = ["ho c 1 v1", "ho c 2 v1", "ho_other c 1 v1", "ho_other c 2 v1", "ho_other c 3 v1"]
        #expect(try delivered() == beforeAccept)
        #expect(first.contains("holding the table's events"), "\(first)")
        #expect(first.contains("--registry \(registry) --table public.ho --version 2"), "\(first)")
        #expect(first.contains("recorded a new schema version as pending"), "\(first)")
        let checkpoint = try #require(try Checkpoint.load(dir + "/journal/consumers/sink.json"))
        #expect(checkpoint.held["public.ho"]?.version == 2)
        #expect(try SchemaRegistry(directory: registry).tables["public.ho"]?.pending == 2...2)
        // The slot moved on: the held events are in the journal only.
        let confirmed = try cluster.psql("SELECT confirmed_flush_lsn >= '\(firstEnd)' FROM pg_replication_slots WHERE slot_name = 'ho_slot'")
        #expect(confirmed == "t")

        let pending = PostgresCluster.run([exe, "schema", "pending", "--registry", registry])
        #expect(pending.status == 0)
        #expect(pending.output.contains("public.ho v2 (pending)"), "\(pending.output)")
        #expect(pending.output.contains("ok       public.ho.b: column_added"), "\(pending.output)")
        let replay = PostgresCluster.run([exe, "replay", "--config", config, "--from-lsn", "0/0", "--dry-run"])
        #expect(replay.status == 0)
        #expect(replay.output.contains("left out 2 events of public.ho"), "\(replay.output)")

        // A restart: the hold comes back from the checkpoint, nothing is delivered twice.
        _ = try runAfter(["INSERT INTO ho_other VALUES (4)", "INSERT INTO ho VALUES (4, 'd', 4)", "ALTER TABLE ho ADD COLUMN c int",
                          "INSERT INTO ho VALUES (5, 'e', 5, 5)"])
        #expect(try delivered() == beforeAccept + ["ho_other c 4 v1"])
        #expect(try SchemaRegistry(directory: registry).tables["public.ho"]?.pending == 2...3)

        // A running `run` notices each acceptance and delivers what it held, in commit order.
        let log = dir + "/run.log"
        let run = PostgresCluster.spawn([exe, "run", "--config", config, "--log-level", "info"], standardError: log)
        defer { kill(run, SIGKILL) }
        var markCount = 0
        func waitFor(_ expected: [String]) throws {
            let deadline = Date().addingTimeInterval(30)
            while try delivered().count < expected.count && Date() < deadline { usleep(100_000) }
            // And nothing more arrives: a marker row committed after everything above is delivered
            // (the sink follows commit order), so whatever was to come before it has come.
            markCount += 1
            try cluster.psql("INSERT INTO ho_mark VALUES (\(markCount))")
            while try !delivered(marks: true).contains("ho_mark c \(markCount) v1") && Date() < deadline { usleep(50_000) }
            #expect(try delivered(marks: true).contains("ho_mark c \(markCount) v1"), "the marker arrived")
            #expect(try delivered() == expected, "log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        let started = Date().addingTimeInterval(30)
        while !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("replication started") && Date() < started {
            usleep(50_000)
        }
        let acceptTwo = PostgresCluster.run([exe, "schema", "accept", "--registry", registry, "--table", "public.ho", "--version", "2"])
        #expect(acceptTwo.status == 0, "\(acceptTwo.output)")
        #expect(acceptTwo.output.contains("accepted public.ho v2"), "\(acceptTwo.output)")
        let afterTwo = beforeAccept + ["ho_other c 4 v1", "ho c 3 v2", "ho u 1 v2", "ho c 4 v2"]
        try waitFor(afterTwo)  // v3's row stays held
        try cluster.psql("INSERT INTO ho_other VALUES (5); INSERT INTO ho VALUES (6, 'f', 6, 6)")
        try waitFor(afterTwo + ["ho_other c 5 v1"])
        let acceptAll = PostgresCluster.run([exe, "schema", "accept", "--registry", registry, "--table", "ho"])
        #expect(acceptAll.status == 0, "\(acceptAll.output)")
        try waitFor(afterTwo + ["ho_other c 5 v1", "ho c 5 v3", "ho c 6 v3"])
        try cluster.psql("INSERT INTO ho VALUES (7, 'g', 7, 7)")
        try waitFor(afterTwo + ["ho_other c 5 v1", "ho c 5 v3", "ho c 6 v3", "ho c 7 v3"])

        kill(run, SIGTERM)
        #expect(PostgresCluster.wait(run) == 0)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("released the table's held events"), "\(text)")
        #expect(try Checkpoint.load(dir + "/journal/consumers/sink.json")?.held.isEmpty == true)
        #expect(try SchemaRegistry(directory: registry).tables["public.ho"]?.pending == nil)
        let typo = PostgresCluster.run([exe, "schema", "accept", "--registry", dir + "/Schemaz", "--table", "public.ho"])
        #expect(typo.status != 0 && typo.output.contains("holds no index.json"), "\(typo.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/Schemaz"))
        let nothing = PostgresCluster.run([exe, "schema", "accept", "--registry", registry, "--table", "public.ho"])
        #expect(nothing.status != 0 && nothing.output.contains("no pending version"), "\(nothing.output)")
    }
}
