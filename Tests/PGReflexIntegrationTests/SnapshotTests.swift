import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Snapshots end to end: incremental and initial, killed and resumed, aimed at one route, failing,
/// and refused requests, by the `pgreflex` executable against a real server.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct SnapshotTests {
    /// DBLog under fire: 50k rows (200k, and three seeds, under PGREFLEX_STRESS=full), writers
    /// updating, deleting, re-inserting, changing keys and inserting while an incremental
    /// snapshot reads in chunks. The table rebuilt from the events in journal order equals the
    /// real one.
    @Test(arguments: Stress.cases([0.11, 0.42, 0.73]))
    func incrementalSnapshotUnderConcurrentWritesRebuildsTheTable(seed: Double) throws {
        let schema = "snap_w\(Int(seed * 100))"
        let rows = Stress.size(small: 50_000, full: 200_000)
        let f = try SnapshotFixture(schema, rows: rows)
        defer { f.remove() }
        try f.cluster.createSlot("\(schema)_slot")
        try f.configure()
        let run = f.startRun()
        let start = f.exe
        let queued = PostgresCluster.run([start, "snapshot", "start", "--config", f.config, "--tables", "\(schema).items", "--chunk-size", "2000"])
        #expect(queued.status == 0, "\(queued.output)")
        let clock = ContinuousClock()
        let started = clock.now
        let writers = f.writers(Stress.size(small: 5_000, full: 20_000), seed: seed, maxID: rows, pause: 0.0002)
        let job = try f.waitForSnapshot(1)
        let snapshotTook = started.duration(to: clock.now)
        #expect(PostgresCluster.wait(writers) == 0)
        let writersTook = started.duration(to: clock.now)
        try f.finish(run)

        let lines = try f.events()
        let reads = lines.filter { $0.op == "r" }
        #expect(reads.allSatisfy { $0.source["snapshot"] as? String == "incremental" })
        #expect(Set(reads.map(\.id)).count == reads.count, "each read has its own id")
        let problems = try f.rebuildProblems(lines)
        #expect(problems.isEmpty, "\(problems.count) differences, first: \(problems.prefix(10))")
        let progress = job["progress"] as! [String: Any]
        #expect(progress["rows"] as? Int == reads.count)
        Issue.record(Comment(rawValue: "seed \(seed): \(reads.count) reads, \(lines.count - reads.count) streamed changes, \(progress["staleDropped"] ?? 0) stale reads dropped, \(progress["rereads"] ?? 0) chunks re-read; snapshot \(snapshotTook), writers \(writersTook)"), severity: .warning)
    }

    /// The initial snapshot, taken while writers run: it is read in the snapshot the new slot
    /// exported, so the streamed changes follow the reads exactly. Every read precedes every
    /// streamed change, the final read says "last", and the rebuilt table equals the real one.
    @Test func initialSnapshotJoinsTheStreamExactly() throws {
        let f = try SnapshotFixture("snap_init", rows: 50_000)
        defer { f.remove() }
        try f.configure(source: """
              create_slot: true
              snapshot: initial
              snapshot_chunk_size: 1000
            """)
        let writers = f.writers(20_000, seed: 0.5, maxID: 50_000)
        // The slot must be created while the writers run: wait for their first commit (a row
        // only they write), not for a guessed time.
        #expect(f.waitForWriters(), "the writers committed nothing: \((try? String(contentsOfFile: f.dir + "/writers.log", encoding: .utf8)) ?? "")")
        let run = f.startRun()
        _ = try f.waitForSnapshot(1)
        #expect(PostgresCluster.wait(writers) == 0)
        try f.finish(run)

        let lines = try f.events()
        let firstStreamed = lines.firstIndex { $0.op != "r" } ?? lines.count
        #expect(lines[firstStreamed...].allSatisfy { $0.op != "r" }, "a read came after a streamed change")
        let reads = lines[..<firstStreamed]
        #expect(reads.count > 40_000)
        #expect(lines.count > reads.count, "some writes committed after the slot was created were streamed")
        #expect(reads.dropLast().allSatisfy { $0.source["snapshot"] as? String == "true" })
        #expect(reads.last?.source["snapshot"] as? String == "last")
        #expect(lines[firstStreamed...].allSatisfy { $0.source["snapshot"] as? String == "false" })
        #expect(Set(lines.map(\.id)).count == lines.count, "no event twice")
        let problems = try f.rebuildProblems(lines)
        #expect(problems.isEmpty, "\(problems.count) differences, first: \(problems.prefix(10))")
        #expect(LogLines.contains(f.logText, field: "snapshot.notification", value: "COMPLETED"))
    }

    /// `initial_only`: the tables, one of them without a primary key (read by ctid page ranges),
    /// are read in the exported snapshot, delivered, and `run` ends by itself; the slot stays.
    @Test func initialOnlyReadsKeylessTablesAndStops() throws {
        let f = try SnapshotFixture("snap_only", rows: 5_000)
        defer { f.remove() }
        _ = try f.cluster.psql("""
            CREATE TABLE snap_only.logs (line int, body text);
            INSERT INTO snap_only.logs SELECT g, repeat('x', g % 50) FROM generate_series(1, 7000) g;
            ALTER PUBLICATION snap_only_pub ADD TABLE snap_only.logs;
            """)
        try """
            source:
              dsn: "\(f.cluster.conninfo)"
              slot: snap_only_slot
              publication: snap_only_pub
              create_slot: true
              snapshot: initial_only
              snapshot_chunk_size: 500
            journal: { directory: ./journal }
            sink: { file: { path: ./events.jsonl } }
            privacy:
              columns:
                - { match: snap_only.logs.body, policy: redact }
            """.write(toFile: f.config, atomically: true, encoding: .utf8)
        let result = PostgresCluster.run([f.exe, "run", "--config", f.config])
        #expect(result.status == 0, "\(result.output)")
        #expect(LogLines.contains(result.output, field: "run.stop_reason", value: "snapshot_completed"), "\(result.output)")
        let lines = try f.events()
        #expect(lines.allSatisfy { $0.op == "r" })
        #expect(lines.filter { $0.table == "items" }.count == 5_000)
        let logs = lines.filter { $0.table == "logs" }
        #expect(logs.count == 7_000)
        #expect(Set(logs.map { $0.after!["line"] as! Int }).count == 7_000, "every keyless row once")
        #expect(logs.allSatisfy { $0.after!["body"] as? String == "[redacted]" }, "privacy applies to reads as to streamed changes")
        #expect(lines.allSatisfy { $0.source["schema_version"] as? Int == 1 })
        #expect(lines.last?.source["snapshot"] as? String == "last")
        #expect(lines.filter { $0.source["snapshot"] as? String == "last" }.count == 1)
        #expect(try f.cluster.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'snap_only_slot'").contains("1"))
    }

    /// kill -9 in the middle of the initial snapshot: the next start resumes it as an
    /// incremental snapshot from its last chunk. Nothing is lost, only the interrupted chunk
    /// is read twice, and the streamed changes still rebuild the table.
    @Test func aKilledInitialSnapshotResumesAsAnIncrementalOne() throws {
        let f = try SnapshotFixture("snap_ikill", rows: 30_000)
        defer { f.remove() }
        try f.configure(source: """
              create_slot: true
              snapshot: initial
              snapshot_chunk_size: 200
            """)
        let first = f.startRun()
        let before = try f.waitForSnapshot(1) { (($0["progress"] as? [String: Any])?["chunks"] as? Int ?? 0) >= 5 }
        kill(first, SIGKILL)
        #expect(PostgresCluster.wait(first) == 128 + SIGKILL)
        #expect(before["kind"] as? String == "initial" && before["state"] as? String == "running")
        let writers = f.writers(3_000, seed: 0.3, maxID: 30_000)
        let second = f.startRun()
        _ = try f.waitForSnapshot(1)
        #expect(PostgresCluster.wait(writers) == 0)
        try f.finish(second)

        #expect(LogLines.contains(f.logText, field: "msg", value: "resuming the interrupted initial snapshot as an incremental snapshot from its last chunk"))
        let lines = try f.events()
        let reads = lines.filter { $0.op == "r" }
        #expect(reads.contains { $0.source["snapshot"] as? String == "true" })
        #expect(reads.contains { $0.source["snapshot"] as? String == "incremental" })
        // By ids, as in the test below: a sink's repeats after the kill carry the same ids.
        var readsPerKey: [Int: Set<String>] = [:]
        for line in reads { readsPerKey[line.after!["id"] as! Int, default: []].insert(line.id) }
        #expect(readsPerKey.filter { $0.value.count > 1 }.count <= 200, "only the interrupted chunk is read twice")
        let problems = try f.rebuildProblems(lines)
        #expect(problems.isEmpty, "\(problems.count) differences, first: \(problems.prefix(10))")
    }

    /// kill -9 in the middle of an incremental snapshot: the restart resumes at the last
    /// durable chunk. No row is lost, and the only rows read twice are those of the chunk the
    /// kill interrupted.
    @Test func killedMidSnapshotResumesAtItsLastChunk() throws {
        let f = try SnapshotFixture("snap_kill", rows: 60_000)
        defer { f.remove() }
        try f.cluster.createSlot("snap_kill_slot")
        try f.configure()
        let first = f.startRun()
        let queued = PostgresCluster.run([f.exe, "snapshot", "start", "--config", f.config, "--tables", "snap_kill.items",
                                          "--chunk-size", "1000", "--max-rows-per-second", "15000"])
        #expect(queued.status == 0, "\(queued.output)")
        let writers = f.writers(5_000, seed: 0.9, maxID: 60_000)
        let before = try f.waitForSnapshot(1) { (($0["progress"] as? [String: Any])?["chunks"] as? Int ?? 0) >= 12 }
        kill(first, SIGKILL)
        #expect(PostgresCluster.wait(first) == 128 + SIGKILL)
        #expect(before["state"] as? String == "running")
        let second = f.startRun()
        _ = try f.waitForSnapshot(1)
        #expect(PostgresCluster.wait(writers) == 0)
        try f.finish(second)

        #expect(LogLines.contains(f.logText, field: "msg", value: "resuming the snapshot from its last chunk"))
        let lines = try f.events()
        // A sink repeats what came after its last saved cursor, with the same ids (at least once,
        // docs/delivery.md): those are not reads. A row read twice is two reads, two ids.
        var readsPerKey: [Int: Set<String>] = [:]
        for line in lines where line.op == "r" { readsPerKey[line.after!["id"] as! Int, default: []].insert(line.id) }
        let twice = readsPerKey.mapValues(\.count).filter { $0.value > 1 }
        #expect(twice.count <= 1000, "\(twice.count) rows read more than once: more than the interrupted chunk")
        #expect(twice.values.allSatisfy { $0 == 2 })
        let problems = try f.rebuildProblems(lines)
        #expect(problems.isEmpty, "\(problems.count) differences, first: \(problems.prefix(10))")
    }

    /// `--route`: only the named route's agent receives the reads; another route matching
    /// every operation and the sink see none of them, while both still get streamed changes.
    @Test func routeOnlyBackfillReachesOnlyThatRoute() throws {
        let f = try SnapshotFixture("snap_route", rows: 3_000)
        defer { f.remove() }
        try f.cluster.createSlot("snap_route_slot")
        try f.configure(source: "", """
            agents:
              fraud: { file: { path: ./fraud.jsonl } }
              audit: { file: { path: ./audit.jsonl } }
            routes:
              fraud_check: { tables: [snap_route.items], ops: [c, r], if: "after.v >= 990", agent: fraud, start: earliest }
              audit_all: { tables: [snap_route.items], agent: audit, start: earliest }
            """)
        let refused = PostgresCluster.run([f.exe, "snapshot", "start", "--config", f.config, "--tables", "snap_route.items", "--route", "nosuch"])
        #expect(refused.status != 0 && refused.output.contains("no route named nosuch"), "\(refused.output)")
        let run = f.startRun()
        let queued = PostgresCluster.run([f.exe, "snapshot", "start", "--config", f.config, "--tables", "snap_route.items", "--route", "fraud_check"])
        #expect(queued.status == 0, "\(queued.output)")
        _ = try f.waitForSnapshot(1)
        _ = try f.cluster.psql("INSERT INTO snap_route.items VALUES (900001, 995, 'streamed')")
        try f.finish(run)

        let fraud = try f.events("fraud.jsonl")
        let audit = try f.events("audit.jsonl")
        let sink = try f.events()
        #expect(fraud.filter { $0.op == "r" }.count == 30, "rows with v >= 990: 30 of 3000")
        #expect(fraud.contains { $0.op == "c" })
        #expect(!audit.contains { $0.op == "r" })
        #expect(audit.contains { $0.op == "c" })
        #expect(!sink.contains { $0.op == "r" })
        #expect(sink.count == 1)
    }

    /// A chunk that fails on the server (here a division by zero only some rows reach) stops
    /// its snapshot as failed, with the SQLSTATE and no value; `run` goes on streaming.
    @Test func aFailingSnapshotStopsAndStreamingGoesOn() throws {
        let f = try SnapshotFixture("snap_fail", rows: 3_000)
        defer { f.remove() }
        try f.cluster.createSlot("snap_fail_slot")
        try f.configure()
        let run = f.startRun()
        let queued = PostgresCluster.run([f.exe, "snapshot", "start", "--config", f.config, "--tables", "snap_fail.items",
                                          "--where", "v / (v - 500) >= 0", "--chunk-size", "100"])
        #expect(queued.status == 0, "\(queued.output)")
        let job = try f.waitForSnapshot(1) { $0["state"] as? String == "failed" }
        #expect((job["error"] as? String)?.contains("22012") == true, "\(job)")
        _ = try f.cluster.psql("INSERT INTO snap_fail.items VALUES (700001, 1, 'after the failure')")
        try f.finish(run)
        let lines = try f.events()
        #expect(lines.contains { $0.op == "c" && $0.after?["id"] as? Int == 700001 })
        #expect(lines.filter { $0.op == "r" }.count == 200, "ids 1-249 match, 250-499 do not, 500 fails: two whole chunks")
        #expect(LogLines.contains(f.logText, field: "snapshot.notification", value: "ABORTED"))
    }

    /// Mistakes are named before anything is queued, and pause, resume and cancel act on the
    /// store's states.
    @Test func badSnapshotRequestsAreRefusedAndCommandsMoveStates() throws {
        let f = try SnapshotFixture("snap_cmd", rows: 10)
        defer { f.remove() }
        try f.configure()
        func snapshot(_ arguments: [String]) -> PostgresCluster.RunResult {
            PostgresCluster.run([f.exe, "snapshot"] + arguments + ["--config", f.config])
        }
        let notCaptured = snapshot(["start", "--tables", "public.elsewhere"])
        #expect(notCaptured.status != 0 && notCaptured.output.contains("not among source.tables"), "\(notCaptured.output)")
        let badWhere = snapshot(["start", "--tables", "snap_cmd.items", "--where", "nosuch > 1"])
        #expect(badWhere.status != 0 && badWhere.output.contains("--where does not work on snap_cmd.items"), "\(badWhere.output)")
        let badChunk = snapshot(["start", "--tables", "snap_cmd.items", "--chunk-size", "0"])
        #expect(badChunk.status != 0 && badChunk.output.contains("--chunk-size 0 is out of range"), "\(badChunk.output)")
        #expect(try f.snapshots().isEmpty, "nothing was queued")
        #expect(snapshot(["start", "--tables", "snap_cmd.items"]).status == 0)
        #expect(snapshot(["pause"]).status == 0)
        #expect(try f.snapshots().first?["state"] as? String == "paused")
        // The operator's one-glance view shows it too.
        let overview = PostgresCluster.run([f.exe, "status", "--config", f.config])
        #expect(overview.status == 0 && overview.output.contains("snapshots:\n  snapshot 1 incremental paused: on snap_cmd.items (1/1)"), "\(overview.output)")
        let again = snapshot(["pause"])
        #expect(again.status != 0 && again.output.contains("cannot be paused"), "\(again.output)")
        #expect(snapshot(["resume"]).status == 0)
        #expect(try f.snapshots().first?["state"] as? String == "running")
        #expect(snapshot(["cancel"]).status == 0)
        #expect(try f.snapshots().first?["state"] as? String == "cancelled")
        let status = snapshot(["status"])
        #expect(status.output.contains("snapshot 1 incremental cancelled"), "\(status.output)")
        let overviewJSON = PostgresCluster.run([f.exe, "status", "--config", f.config, "--format", "json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(overviewJSON.output.utf8)) as? [String: Any]
        let shown = parsed?["snapshots"] as? [[String: Any]]
        #expect(shown?.count == 1 && shown?.first?["state"] as? String == "cancelled", "\(overviewJSON.output)")
    }
}
