import Foundation
import Logging
import PGReflexJournal
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Named consumers on one journal, through the executable: each at its own pace with its own
/// cursor; a full journal pauses capture instead of dropping anything; SIGTERM stops both halves
/// cleanly.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct ConsumerTests {
    struct Setup {
        let dir: String
        let exe: String
        var config: String { dir + "/run.yaml" }
        var log: String { dir + "/run.log" }

        /// Distinct event ids in a sink file, whether they came in commit order, and the lines
        /// that are not JSON: on a pipe, the partial line a killed writer left (each restart
        /// ends it with a newline).
        func distinct(_ file: String) throws -> (ids: Set<String>, ordered: Bool, partial: Int) {
            let data = FileManager.default.contents(atPath: dir + "/" + file) ?? Data()
            var seen = Set<String>()
            var unique: [String] = []
            var partial = 0
            for line in data.split(separator: UInt8(ascii: "\n")) {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = object["id"] as? String else {
                    partial += 1
                    continue
                }
                if seen.insert(id).inserted { unique.append(id) }
            }
            return (seen, unique == unique.sorted(), partial)
        }

        /// `pgreflex run` in the background, logging to run.log.
        func startRun() -> BackgroundRun {
            BackgroundRun(pid: PostgresCluster.spawn([exe, "run", "--config", config, "--log-level", "info"], standardError: log), log: log)
        }

        /// The reading end of the named pipe `name`.fifo, copying into `name`.jsonl; paused at first when asked.
        func pipe(_ name: String, bytesPerSecond: Int = 0, paused: Bool = false) throws -> PipeReader {
            let reader = try PipeReader(fifo: dir + "/\(name).fifo", output: dir + "/\(name).jsonl", bytesPerSecond: bytesPerSecond)
            if paused { reader.pause() }
            return reader
        }

        /// Polls until `condition` holds, for at most `seconds`.
        func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if try condition() { return true }
                usleep(100_000)
            }
            return try condition()
        }
    }

    /// A `run` process; a test that fails before `terminate` kills it on the way out.
    final class BackgroundRun {
        let pid: Int32
        let log: String
        private var reaped = false

        init(pid: Int32, log: String) {
            self.pid = pid
            self.log = log
        }

        /// SIGTERM, then the exit status and the log.
        func terminate() -> (status: Int32, log: String) {
            kill(pid, SIGTERM)
            reaped = true
            let status = PostgresCluster.wait(pid)
            return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }

        deinit {
            if !reaped {
                kill(pid, SIGKILL)
                PostgresCluster.wait(pid)
            }
        }
    }

    func prepare(_ cluster: PostgresCluster, name: String, consumers: String, journal: String) throws -> Setup {
        try cluster.psql("""
            CREATE TABLE \(name) (id int PRIMARY KEY, v text);
            CREATE PUBLICATION \(name)_pub FOR TABLE \(name);
            CREATE PROCEDURE \(name)_load(first int, n int) LANGUAGE plpgsql AS $$
            BEGIN
              FOR t IN 0 .. n / 10 - 1 LOOP
                INSERT INTO \(name) SELECT i, repeat('v', 200) FROM generate_series(first + t * 10, first + t * 10 + 9) i;
                COMMIT;
              END LOOP;
            END $$;
            """)
        try cluster.createSlot("\(name)_slot")
        let setup = Setup(dir: NSTemporaryDirectory() + "pgreflex-consumers-\(UUID().uuidString)", exe: try pgreflexExecutable())
        try FileManager.default.createDirectory(atPath: setup.dir, withIntermediateDirectories: true)
        try """
            source: { dsn: "\(cluster.conninfo)", slot: \(name)_slot, publication: \(name)_pub }
            journal: \(journal)
            \(consumers)
            """.write(toFile: setup.config, atomically: true, encoding: .utf8)
        return setup
    }

    /// A fast file sink and one behind a slow pipe reader, killed at random points: the fast one
    /// is never held back (it delivers everything while the slow one is stopped dead), each
    /// resumes from its own cursor, and neither loses anything.
    @Test func aSlowConsumerNeverHoldsBackAFastOneAndKillsLoseNothingForEither() throws {
        let cluster = try PostgresCluster.required()
        let setup = try prepare(cluster, name: "two", consumers: """
            sink: { file: { path: ./fast.jsonl } }
            consumers:
              slow: { file: { path: ./slow.fifo } }
            """, journal: "{ directory: ./journal, segment_bytes: 1048576, fsync: { max_records: 500, max_delay_ms: 5 } }")
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        let slow = try setup.pipe("slow", bytesPerSecond: 2 << 20)
        defer { slow.stop() }
        let rows = 20_000

        let workload = PostgresCluster.spawn(["psql", cluster.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "CALL two_load(1, \(rows))"])
        var random = SplitMix64(seed: 20261130)
        for _ in 0..<6 {
            let run = PostgresCluster.spawn([setup.exe, "run", "--config", setup.config, "--log-level", "warning"], standardError: setup.log)
            usleep(UInt32.random(in: 300_000...1_500_000, using: &random))
            kill(run, SIGKILL)
            #expect(PostgresCluster.wait(run) == 128 + SIGKILL, "\(String(describing: try? String(contentsOfFile: setup.log, encoding: .utf8)))")
        }
        #expect(PostgresCluster.wait(workload) == 0)

        // The slow consumer stops reading altogether: its sink blocks once the pipe is full.
        slow.pause()
        let run = setup.startRun()
        let fastDone = try setup.waitUntil(120) { try setup.distinct("fast.jsonl").ids.count == rows }
        #expect(fastDone, "the fast consumer delivered everything while the slow one was stopped")
        let stalled = try setup.distinct("slow.jsonl").ids.count
        #expect(stalled < rows, "the slow consumer is behind (it was stopped)")
        // `journal inspect` shows who lags, read beside the running process.
        let inspect = PostgresCluster.run([setup.exe, "journal", "inspect", "--directory", setup.dir + "/journal"])
        #expect(inspect.status == 0, "\(inspect.output)")
        let lag = Dictionary(uniqueKeysWithValues: inspect.output.split(separator: "\n").compactMap { line -> (String, Int)? in
            let fields = line.split(separator: "\t")
            guard fields.count == 6, let behind = Int(fields[2]) else { return nil }
            return (String(fields[0]), behind)
        })
        #expect(lag["sink"] == 0, "\(inspect.output)")
        #expect((lag["slow"] ?? 0) > 0, "\(inspect.output)")

        slow.resume(bytesPerSecond: 0)
        #expect(try setup.waitUntil(120) { try setup.distinct("slow.jsonl").ids.count == rows }, "the slow consumer catches up")
        let stopped = run.terminate()
        #expect(stopped.status == 0, "SIGTERM stops both halves cleanly: \(stopped.log)")

        for file in ["fast.jsonl", "slow.jsonl"] {
            let (ids, ordered, partial) = try setup.distinct(file)
            #expect(ids.count == rows, "\(file): every change, after dedup by id")
            #expect(ordered, "\(file): in commit order")
            #expect(partial <= (file == "fast.jsonl" ? 0 : 6), "\(file): a partial line only where a kill cut a pipe write")
        }
        // Each cursor is its own, and both reached the journal's end.
        let journal = try Journal(options: .init(directory: setup.dir + "/journal", readOnly: true), logger: .init(label: "test"))
        for name in ["sink", "slow"] {
            let cursor = try #require(try Checkpoint.load(setup.dir + "/journal/consumers/\(name).json"))
            #expect(cursor.position == journal.lastAppended, "\(name)")
        }
        let confirmed = LSN(try cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'two_slot'"))!
        #expect(confirmed >= journal.durableTransactionEnd!, "the stop confirmed everything journaled")
    }

    /// A tiny size bound and a consumer that reads nothing: capture stops reading the slot (its
    /// confirmed LSN stops moving, the journal stays near its bound) and says which consumer it
    /// waits for; when the consumer reads again, capture resumes, and every change arrives.
    @Test func aFullJournalPausesCaptureUntilTheConsumerCatchesUp() throws {
        let cluster = try PostgresCluster.required()
        let setup = try prepare(cluster, name: "jfull", consumers: """
            sink: { file: { path: ./fast.jsonl } }
            consumers:
              stuck: { file: { path: ./stuck.fifo } }
            """, journal: "{ directory: ./journal, segment_bytes: 65536, retention: { max_bytes: 262144 } }")
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        let stuck = try setup.pipe("stuck", paused: true)
        defer { stuck.stop() }
        let rows = 10_000
        let run = setup.startRun()
        try cluster.psql("CALL jfull_load(1, \(rows))")
        let end = try cluster.currentInsertLSN()
        let full = try setup.waitUntil(60) {
            ((try? String(contentsOfFile: setup.log, encoding: .utf8)) ?? "").contains("the journal is full")
        }
        let log = (try? String(contentsOfFile: setup.log, encoding: .utf8)) ?? ""
        #expect(full, "\(log)")
        #expect(LogLines.contains(log, field: "consumer", value: "stuck"), "the warning names the lagging consumer: \(log)")
        func confirmed() throws -> LSN { LSN(try cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'jfull_slot'"))! }
        let paused = try confirmed()
        // Not a sleep: the run's own status file, rewritten each second, says it is still paused
        // three reports later, and the slot has not moved meanwhile.
        func report() -> (generated: Int64, state: String)? {
            guard let data = FileManager.default.contents(atPath: setup.dir + "/state/status.json"),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let capture = object["capture"] as? [String: Any] else { return nil }
            return ((object["generatedAt"] as? NSNumber)?.int64Value ?? 0, capture["state"] as? String ?? "")
        }
        let first = report()?.generated ?? 0
        var reports = Set<Int64>()
        #expect(try setup.waitUntil(30) {
            if let now = report(), now.generated > first, now.state == "paused" { reports.insert(now.generated) }
            return reports.count >= 3
        }, "three status reports while paused: \(String(describing: report()))")
        #expect(try confirmed() == paused, "the slot's confirmed LSN stops moving while capture waits")
        #expect(paused < end, "the slot still holds what capture has not read")
        let bytes = try Journal.inspect(directory: setup.dir + "/journal").reduce(0) { $0 + $1.bytes }
        #expect(bytes < 262_144 + 16 << 20, "the journal stays near its bound (at most one batch over it): \(bytes)")
        #expect(try setup.distinct("fast.jsonl").ids.count < rows)

        stuck.resume(bytesPerSecond: 0)
        let caughtUp = try setup.waitUntil(120) {
            try setup.distinct("fast.jsonl").ids.count == rows && setup.distinct("stuck.jsonl").ids.count == rows
        }
        #expect(caughtUp)
        #expect(try setup.waitUntil(30) { try confirmed() >= end }, "capture resumed and confirmed everything")
        let (status, finalLog) = run.terminate()
        #expect(status == 0, "\(finalLog)")
        #expect(finalLog.contains("the journal has room again: capture resumed"), "\(finalLog)")
        for file in ["fast.jsonl", "stuck.jsonl"] {
            let (ids, ordered, partial) = try setup.distinct(file)
            #expect(ids.count == rows, "\(file)")
            #expect(ordered, "\(file)")
            #expect(partial == 0, "\(file)")
        }
    }

    /// A consumer added later starts where its `start:` says: at an LSN (the first transaction
    /// committed there or after), or at the journal's end; the first consumer is untouched.
    @Test func aConsumerAddedLaterStartsAtItsConfiguredPosition() throws {
        let cluster = try PostgresCluster.required()
        let consumers = "sink: { file: { path: ./fast.jsonl } }"
        let setup = try prepare(cluster, name: "late", consumers: consumers, journal: "{ directory: ./journal }")
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        try cluster.psql("CALL late_load(1, 1000)")
        let mid = try cluster.currentInsertLSN()
        try cluster.psql("CALL late_load(1001, 1000)")
        var end = try cluster.currentInsertLSN()
        let first = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--end-lsn", "\(end)"])
        #expect(first.status == 0, "\(first.output)")
        #expect(try setup.distinct("fast.jsonl").ids.count == 2000)

        let config = try String(contentsOfFile: setup.config, encoding: .utf8)
        try (config + """

            consumers:
              from_mid: { file: { path: ./mid.jsonl }, start: "\(mid)" }
              newest: { file: { path: ./newest.jsonl }, start: latest }
            """).write(toFile: setup.config, atomically: true, encoding: .utf8)
        let second = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--end-lsn", "\(end)"])
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("the consumer has no cursor: it starts at the configured LSN"), "\(second.output)")
        let fromMid = try parseLines(FileManager.default.contents(atPath: setup.dir + "/mid.jsonl") ?? Data())
        #expect(fromMid.count == 1000, "the second thousand rows, committed after \(mid)")
        #expect(fromMid.allSatisfy { ($0.after?["id"] as? Int ?? 0) > 1000 })
        #expect(try setup.distinct("newest.jsonl").ids.isEmpty)
        #expect(try setup.distinct("fast.jsonl").ids.count == 2000)

        try cluster.psql("CALL late_load(2001, 10)")
        end = try cluster.currentInsertLSN()
        let third = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--end-lsn", "\(end)"])
        #expect(third.status == 0, "\(third.output)")
        #expect(try setup.distinct("newest.jsonl").ids.count == 10)
        #expect(try setup.distinct("mid.jsonl").ids.count == 1010)
        #expect(try setup.distinct("fast.jsonl").ids.count == 2010)

        // A start before what retention kept is refused, naming where the journal begins now.
        try FileManager.default.removeItem(atPath: setup.dir + "/journal/consumers/newest.json")
        // (The retention point is `end`, after `mid`: LSNs on the shared test server are anyone's.)
        try #"{"version":1,"commit_lsn":"\#(end)","ordinal":0}"# .write(toFile: setup.dir + "/journal/retention.json", atomically: true, encoding: .utf8)
        try (config + "\nconsumers:\n  newest: { file: { path: ./newest.jsonl }, start: \"\(mid)\" }\n")
            .write(toFile: setup.config, atomically: true, encoding: .utf8)
        let refused = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--end-lsn", "\(end)"])
        #expect(refused.status == 1)
        #expect(refused.output.contains("journal_before_retention") && refused.output.contains(end.description), "\(refused.output)")
    }

    /// `on_journal_full: drop_oldest`: a consumer that reads nothing never pauses capture; the
    /// size bound removes what it has not read, and it counts exactly what it skipped: what it
    /// delivers plus what it dropped is every change.
    @Test func aDropOldestConsumerSkipsWhatTheBoundRemovedAndCountsIt() throws {
        let cluster = try PostgresCluster.required()
        let setup = try prepare(cluster, name: "lossy", consumers: """
            sink: { file: { path: ./fast.jsonl } }
            consumers:
              lossy: { file: { path: ./lossy.fifo }, on_journal_full: drop_oldest }
            """, journal: "{ directory: ./journal, segment_bytes: 65536, retention: { max_bytes: 262144 } }")
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        let lossy = try setup.pipe("lossy", paused: true)
        defer { lossy.stop() }
        let rows = 5000
        let run = setup.startRun()
        try cluster.psql("CALL lossy_load(1, \(rows))")
        #expect(try setup.waitUntil(60) { try setup.distinct("fast.jsonl").ids.count == rows }, "capture never waited for the lossy consumer")
        lossy.resume(bytesPerSecond: 0)
        let cursorPath = setup.dir + "/journal/consumers/lossy.json"
        let journalEnd = { try Journal(options: .init(directory: setup.dir + "/journal", readOnly: true), logger: .init(label: "test")).lastAppended }
        #expect(try setup.waitUntil(60) { try Checkpoint.load(cursorPath)?.position == journalEnd() })
        let (status, log) = run.terminate()
        #expect(status == 0, "\(log)")
        #expect(!log.contains("the journal is full"), "\(log)")
        #expect(log.contains("records this consumer had not read were removed (on_journal_full: drop_oldest)"), "\(log)")
        let dropped = try #require(try Checkpoint.load(cursorPath)).dropped
        let delivered = try setup.distinct("lossy.jsonl").ids.count
        #expect(dropped > 0)
        #expect(delivered + dropped == rows, "delivered \(delivered) + dropped \(dropped)")
    }
}
