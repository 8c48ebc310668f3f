import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The idle heartbeat, slot health warnings and `--start-lsn`, with the real executable.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct SlotMaintenanceTests {
    func confirmedFlush(_ cluster: PostgresCluster, _ slot: String) throws -> LSN? {
        LSN(try cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '\(slot)'"))
    }

    /// Heartbeats, keepalives and skipped tables are not changes: `--idle-exit` fires on time
    /// while they keep arriving (it used to be reset by each heartbeat, and never fired).
    @Test func idleExitFiresWhileHeartbeatsArrive() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE ie_watched (id int PRIMARY KEY); CREATE TABLE ie_other (id int PRIMARY KEY);
            CREATE PUBLICATION ie_pub FOR TABLE ie_watched, ie_other;
            """)
        try cluster.createSlot("ie_slot")
        try cluster.psql("INSERT INTO ie_watched VALUES (1)")
        let log = NSTemporaryDirectory() + "pgreflex-idle-\(UUID().uuidString).log"
        defer { unlink(log) }
        let started = Date()
        let tail = PostgresCluster.spawn(
            [try pgreflexExecutable(), "tail", "--dsn", cluster.conninfo, "--slot", "ie_slot", "--publication", "ie_pub",
             "--tables", "public.ie_watched", "--heartbeat-interval-ms", "300", "--idle-exit", "3"], standardError: log)
        var status: Int32 = 0
        var exited = false
        var other = 0
        // A published table outside --tables stays busy the whole time: skipped, so not activity either.
        while Date().timeIntervalSince(started) < 20 {
            if waitpid(tail, &status, WNOHANG) == tail {
                exited = true
                break
            }
            other += 1
            try cluster.psql("INSERT INTO ie_other VALUES (\(other))")
            usleep(200_000)
        }
        if !exited {
            kill(tail, SIGKILL)
            _ = PostgresCluster.wait(tail)
        }
        let elapsed = Date().timeIntervalSince(started)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(exited, "tail --idle-exit 3 was still running after 20 s: \(text)")
        #expect(elapsed >= 3, "exited after \(elapsed) s")
        #expect(LogLines.contains(text, field: "tail.stop_reason", value: "idle"), "\(text)")
        let heartbeats = LogLines.first(text, field: "tail.heartbeats").flatMap { Int($0) } ?? 0
        #expect(heartbeats > 0, "\(text)")
    }

    @Test func heartbeatAdvancesTheSlotWhileOnlyUnpublishedTablesAreBusy() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE hb_idle (id int PRIMARY KEY); CREATE TABLE hb_busy (id int PRIMARY KEY, v text);
            CREATE PUBLICATION hb_pub FOR TABLE hb_idle;
            """)
        try cluster.createSlot("hb_slot")
        let dir = NSTemporaryDirectory() + "pgreflex-heartbeat-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            source:
              dsn: "\(cluster.conninfo)"
              slot: hb_slot
              publication: hb_pub
              heartbeat_interval_ms: 300
              slot_check_interval_ms: 200
              retained_wal_warning_bytes: 1
            journal: { directory: ./journal }
            sink: { file: { path: ./events.jsonl } }
            """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
        let log = dir + "/run.log"
        let run = PostgresCluster.spawn([try pgreflexExecutable(), "run", "--config", dir + "/run.yaml"], standardError: log)
        defer { kill(run, SIGKILL) }

        let start = try #require(try confirmedFlush(cluster, "hb_slot"))
        for chunk in 0..<10 {
            try cluster.psql("INSERT INTO hb_busy SELECT i, repeat('x', 100) FROM generate_series(\(chunk * 2000 + 1), \(chunk * 2000 + 2000)) i")
        }
        let busyEnd = try cluster.currentInsertLSN()
        #expect(busyEnd > start)
        let deadline = Date().addingTimeInterval(30)
        while (try confirmedFlush(cluster, "hb_slot")).map({ $0 < busyEnd }) ?? true, Date() < deadline { usleep(100_000) }
        let confirmed = try #require(try confirmedFlush(cluster, "hb_slot"))
        #expect(confirmed >= busyEnd, "the slot stayed at \(confirmed); the busy table wrote up to \(busyEnd)")

        kill(run, SIGTERM)
        #expect(PostgresCluster.wait(run) == 0)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        // Heartbeats were decoded, and none became an event.
        let heartbeats = LogLines.first(text, field: "run.heartbeats").flatMap { Int($0) } ?? 0
        #expect(heartbeats > 0, "\(text)")
        #expect(try String(contentsOfFile: dir + "/events.jsonl", encoding: .utf8).isEmpty)
        #expect(text.contains("the slot retains more WAL than the warning threshold"), "\(text)")
        #expect(LogLines.first(text, field: "slot.retained_wal_bytes") != nil, "\(text)")
    }

    @Test func onlyTheConfiguredTablesAreDecoded() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE al_yes (id int PRIMARY KEY); CREATE TABLE al_no (id int PRIMARY KEY, secret text);
            CREATE PUBLICATION al_pub FOR TABLE al_yes, al_no;
            """)
        try cluster.createSlot("al_slot")
        try cluster.psql("BEGIN; INSERT INTO al_yes VALUES (1); INSERT INTO al_no VALUES (1, 'not-approved-value'); INSERT INTO al_yes VALUES (2); COMMIT;")
        let end = try cluster.currentInsertLSN()
        let (tail, lines) = try tailExecutable(cluster, ["--slot", "al_slot", "--publication", "al_pub", "--tables", "public.al_yes",
                                                         "--end-lsn", "\(end)"])
        #expect(tail.status == 0, "\(tail.output)")
        #expect(lines.map(\.table) == ["al_yes", "al_yes"])
        #expect(tail.output.contains("its changes are skipped") && tail.output.contains("public.al_no"), "\(tail.output)")
        #expect(!lines.map(\.raw).joined().contains("not-approved-value"))
    }

    @Test func startLSNAfterTheSlotsPositionSkipsWhatCommittedBeforeIt() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE sl (id int PRIMARY KEY); CREATE PUBLICATION sl_pub FOR TABLE sl;")
        try cluster.createSlot("sl_slot")
        try cluster.psql("INSERT INTO sl VALUES (1)")
        try cluster.psql("INSERT INTO sl VALUES (2)")
        let afterSecond = try cluster.currentInsertLSN()
        try cluster.psql("INSERT INTO sl VALUES (3)")
        let end = try cluster.currentInsertLSN()
        let (tail, lines) = try tailExecutable(cluster, ["--slot", "sl_slot", "--publication", "sl_pub", "--start-lsn", "\(afterSecond)",
                                                         "--end-lsn", "\(end)"])
        #expect(tail.status == 0, "\(tail.output)")
        #expect(lines.compactMap { $0.after?["id"] as? Int } == [3])
    }
}

/// A slot the server invalidated (`max_slot_wal_keep_size` exceeded) is named as such, with the fix.
@Suite(.postgresCluster(settings: ["max_slot_wal_keep_size = 1MB", "min_wal_size = 32MB", "max_wal_size = 64MB"]), .timeLimit(.minutes(10)))
struct InvalidatedSlotTests {
    @Test func anInvalidatedSlotIsAClearError() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE lost_t (id int PRIMARY KEY, v text); CREATE PUBLICATION lost_pub FOR TABLE lost_t;")
        try cluster.createSlot("lost_slot")
        for round in 0..<4 {
            try cluster.psql("INSERT INTO lost_t SELECT i, repeat('x', 1000) FROM generate_series(\(round * 20000 + 1), \(round * 20000 + 20000)) i")
            try cluster.psql("SELECT pg_switch_wal()")
        }
        try cluster.psql("CHECKPOINT")
        try cluster.psql("CHECKPOINT")
        #expect(try cluster.psql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'lost_slot'") == "lost")
        let tail = PostgresCluster.run([try pgreflexExecutable(), "tail", "--dsn", cluster.conninfo, "--slot", "lost_slot",
                                        "--publication", "lost_pub", "--idle-exit", "1"])
        #expect(tail.status == 1)
        #expect(tail.output.contains("slot_invalidated") && tail.output.contains("wal_status = lost"), "\(tail.output)")
    }
}
