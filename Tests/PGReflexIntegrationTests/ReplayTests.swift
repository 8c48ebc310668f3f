import Foundation
import PGReflexJournal
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `pgreflex replay` and journal retention, and `--start-lsn` against the slot's position, with
/// the real executable against a real server.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct ReplayTests {
    struct Setup {
        let dir: String
        let exe: String
        var config: String { dir + "/run.yaml" }
        var sink: String { dir + "/events.jsonl" }

        func lines(_ path: String? = nil) throws -> [TailLine] {
            try parseLines(Data(contentsOf: URL(fileURLWithPath: path ?? sink)))
        }

        func rawLines(_ path: String) throws -> [String] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        }
    }

    /// A table, its publication and slot, `transactions` transactions of 10 rows, and a `run`
    /// that journals and delivers all of it, then stops.
    func prepare(_ cluster: PostgresCluster, name: String, transactions: Int, journal: String) throws -> Setup {
        try cluster.psql("CREATE TABLE \(name) (id int PRIMARY KEY, v text); CREATE PUBLICATION \(name)_pub FOR TABLE \(name);")
        try cluster.createSlot("\(name)_slot")
        for t in 0..<transactions {
            try cluster.psql("INSERT INTO \(name) SELECT i, repeat('v', 200) FROM generate_series(\(t * 10 + 1), \(t * 10 + 10)) i")
        }
        let end = try cluster.currentInsertLSN()
        let setup = Setup(dir: NSTemporaryDirectory() + "pgreflex-replay-\(UUID().uuidString)", exe: try pgreflexExecutable())
        try FileManager.default.createDirectory(atPath: setup.dir, withIntermediateDirectories: true)
        try """
            source: { dsn: "\(cluster.conninfo)", slot: \(name)_slot, publication: \(name)_pub }
            journal: \(journal)
            sink: { file: { path: ./events.jsonl } }
            """.write(toFile: setup.config, atomically: true, encoding: .utf8)
        let run = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--end-lsn", "\(end)"])
        #expect(run.status == 0, "\(run.output)")
        #expect(try setup.lines().count == transactions * 10)
        let journaled = try expectMetadataMatchesEnvelopes(journal: setup.dir + "/journal")
        #expect(journaled > 0 && journaled <= transactions * 10)  // retention may have removed the oldest
        return setup
    }

    /// A deleted checkpoint is said out loud (how many events, from where), `--if-no-checkpoint
    /// latest` skips them, and a damaged one is `checkpoint_corrupt` with a message that is true.
    @Test func aMissingOrDamagedCheckpointIsNeverSilent() throws {
        let cluster = try PostgresCluster.required()
        let setup = try prepare(cluster, name: "ck", transactions: 5, journal: "{ directory: ./journal }")
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        let checkpoint = setup.dir + "/journal/consumers/sink.json"
        let end = "\(try cluster.currentInsertLSN())"
        try FileManager.default.removeItem(atPath: checkpoint)
        let again = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--end-lsn", end])
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("the consumer has no cursor: every event the journal holds is delivered to it"), "\(again.output)")
        #expect(LogLines.contains(again.output, field: "journal.events", value: "50"), "\(again.output)")
        // No retention configured: a default bound, said at start.
        #expect(again.output.contains("journal.retention.max_bytes is not set"), "\(again.output)")
        #expect(try setup.lines().count == 100)

        try FileManager.default.removeItem(atPath: checkpoint)
        let skipped = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--end-lsn", end, "--if-no-checkpoint", "latest"])
        #expect(skipped.status == 0, "\(skipped.output)")
        #expect(LogLines.contains(skipped.output, field: "journal.skipped_events", value: "50"), "\(skipped.output)")
        #expect(try setup.lines().count == 100)
        #expect(FileManager.default.fileExists(atPath: checkpoint))

        try "{not json".write(toFile: checkpoint, atomically: true, encoding: .utf8)
        let damaged = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--end-lsn", end])
        #expect(damaged.status == 1)
        #expect(damaged.output.contains("checkpoint_corrupt"), "\(damaged.output)")
        #expect(damaged.output.contains("every event the journal still holds"), "\(damaged.output)")
        #expect(!damaged.output.contains("slot's confirmed position"), "\(damaged.output)")
    }

    @Test func replayRedeliversExactlyTheRangeEvenBeforeTheSlotsPosition() throws {
        let cluster = try PostgresCluster.required()
        let setup = try prepare(cluster, name: "rp", transactions: 20, journal: "{ directory: ./journal, segment_bytes: 8192 }")
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        let original = try setup.lines()
        let commits = Array(Set(original.compactMap(\.commitLSN))).sorted()
        #expect(commits.count == 20)
        let (from, to) = (commits[5], commits[12])
        let confirmed = LSN(try cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'rp_slot'"))!
        #expect(confirmed > to, "the slot has moved past the range: only the journal can give it back")

        let expected = try setup.rawLines(setup.sink).filter { line in
            let commit = try parseLines(Data(line.utf8))[0].commitLSN!
            return commit >= from && commit <= to
        }
        #expect(expected.count == 80)

        let out = setup.dir + "/replayed.jsonl"
        let replay = PostgresCluster.run([setup.exe, "replay", "--config", setup.config, "--from-lsn", "\(from)", "--to-lsn", "\(to)",
                                          "--output", out])
        #expect(replay.status == 0, "\(replay.output)")
        #expect(replay.output.contains("re-delivered 80 events of 8 transactions"), "\(replay.output)")
        // The same events, byte for byte: same ids, so a consumer that drops duplicates sees each once.
        #expect(try setup.rawLines(out) == expected)

        let dryRun = PostgresCluster.run([setup.exe, "replay", "--config", setup.config, "--from-lsn", "\(from)", "--to-lsn", "\(to)",
                                          "--dry-run"])
        #expect(dryRun.status == 0)
        #expect(dryRun.output.contains("would re-deliver 80 events of 8 transactions"), "\(dryRun.output)")
        #expect(dryRun.output.contains("public.rp\t80"), "\(dryRun.output)")

        // Without --output: appended to the configured sink. Without --to-lsn: to the journal's end.
        let toSink = PostgresCluster.run([setup.exe, "replay", "--config", setup.config, "--from-lsn", "\(commits[18])"])
        #expect(toSink.status == 0, "\(toSink.output)")
        let all = try setup.rawLines(setup.sink)
        #expect(all.count == 220)
        #expect(Array(all.suffix(20)) == Array(all.prefix(200).suffix(20)))


        // The slot cannot go back: --start-lsn before its position is refused. `run` points at replay;
        // `tail`, which keeps no journal, says what it can do instead.
        let run = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--start-lsn", "\(from)", "--idle-exit", "1"])
        #expect(run.status == 1)
        #expect(run.output.contains("start_lsn_unavailable") && run.output.contains("pgreflex replay --config FILE --from-lsn \(from)"),
                "\(run.output)")
        let tail = PostgresCluster.run([setup.exe, "tail", "--dsn", cluster.conninfo, "--slot", "rp_slot", "--publication", "rp_pub",
                                        "--start-lsn", "\(from)", "--idle-exit", "1"])
        #expect(tail.status == 1)
        #expect(tail.output.contains("start_lsn_unavailable") && tail.output.contains("drop --start-lsn"), "\(tail.output)")
        #expect(!tail.output.contains("pgreflex replay --"), "\(tail.output)")
    }

    @Test func retentionBoundsTheJournalAndReplaySaysWhatIsGone() throws {
        let cluster = try PostgresCluster.required()
        let setup = try prepare(cluster, name: "rt", transactions: 50,
                                journal: "{ directory: ./journal, segment_bytes: 4096, retention: { max_bytes: 16384 } }")
        defer { try? FileManager.default.removeItem(atPath: setup.dir) }
        let commits = Array(Set(try setup.lines().compactMap(\.commitLSN))).sorted()
        // Retention keeps what a consumer has not delivered when it runs, and the first run's
        // last pass may come while the sink still lags (more so on a loaded machine). A second,
        // idle run starts with every consumer caught up: its final pass leaves the bound.
        let idle = PostgresCluster.run([setup.exe, "run", "--config", setup.config, "--idle-exit", "1"])
        #expect(idle.status == 0, "\(idle.output)")
        let inspect = PostgresCluster.run([setup.exe, "journal", "inspect", "--directory", setup.dir + "/journal"])
        #expect(inspect.status == 0, "\(inspect.output)")
        let segments = try Journal.inspect(directory: setup.dir + "/journal")
        // The limit plus the segments retention may not remove: the one being written, and any a consumer still needs.
        #expect(segments.reduce(0) { $0 + $1.bytes } < 16384 + 3 * 4096 + 2048, "\(inspect.output)")
        #expect(segments.count < 12)
        // The oldest kept segment may begin inside a transaction: the first whole one is where a replay can start.
        var firstWhole: LSN?
        try Journal(options: .init(directory: setup.dir + "/journal", readOnly: true), logger: testLogger).read { record in
            if firstWhole == nil, record.position.ordinal == 0 { firstWhole = record.position.commitLSN }
        }
        let oldest = try #require(firstWhole)

        let gone = PostgresCluster.run([setup.exe, "replay", "--config", setup.config, "--from-lsn", "\(commits[0])", "--dry-run"])
        #expect(gone.status == 1)
        #expect(gone.output.contains("journal_before_retention") && gone.output.contains("Replay from \(oldest) or later"), "\(gone.output)")
        let kept = PostgresCluster.run([setup.exe, "replay", "--config", setup.config, "--from-lsn", "\(oldest)", "--dry-run"])
        #expect(kept.status == 0, "\(kept.output)")
    }
}
