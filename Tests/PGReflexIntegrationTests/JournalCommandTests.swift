import Foundation
import Logging
import PGReflexJournal
import PGReflexTestSupport
import PGReflexWire
import Testing

/// `pgreflex journal inspect` and `journal repair`, run as the real executable.
@Suite(.timeLimit(.minutes(10))) struct JournalCommandTests {
    @Test func inspectFindsCorruptionAndRepairCutsItOnlyWhenAsked() throws {
        let dir = NSTemporaryDirectory() + "pgreflex-journal-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let journal = try Journal(options: .init(directory: dir, segmentBytes: 2048), logger: Logger(label: "test"))
            for i in 0..<100 {
                try journal.append(JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(100 + i)), ordinal: 0),
                                                 transactionEnd: LSN(UInt64(100 + i)), envelope: Array("{\"i\":\(i)}".utf8)))
            }
            try journal.sync()
        }
        let exe = try pgreflexExecutable()
        let clean = PostgresCluster.run([exe, "journal", "inspect", "--directory", dir])
        #expect(clean.status == 0)
        #expect(clean.output.contains("100 records, 0 with problems"))

        let victim = try Journal.inspect(directory: dir)[1]
        let path = dir + "/" + victim.name
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[JournalSegment.header.count + 9] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let broken = PostgresCluster.run([exe, "journal", "inspect", "--directory", dir])
        #expect(broken.status == 1)
        // The damaged segment keeps its size, and the records after the bad one that still verify are counted.
        #expect(broken.output.contains("\(victim.name)\t\(victim.bytes)\t0\t"), "\(broken.output)")
        #expect(broken.output.contains("journal_corrupt_record at byte \(JournalSegment.header.count) (\(victim.records - 1) records after it still verify)"),
                "\(broken.output)")

        let cutBytes = victim.bytes - JournalSegment.header.count
        let dryRun = PostgresCluster.run([exe, "journal", "repair", "--directory", dir])
        #expect(dryRun.output.contains("would cut \(victim.name) at byte \(JournalSegment.header.count): \(cutBytes) bytes, "
            + "the bad record and at least \(victim.records - 1) after it"), "\(dryRun.output)")
        #expect(PostgresCluster.run([exe, "journal", "inspect", "--directory", dir]).status == 1)

        let repaired = PostgresCluster.run([exe, "journal", "repair", "--directory", dir, "--yes"])
        #expect(repaired.status == 0, "\(repaired.output)")
        #expect(repaired.output.contains("cut \(victim.records) records (\(cutBytes) bytes) from \(victim.name)"), "\(repaired.output)")
        let after = PostgresCluster.run([exe, "journal", "inspect", "--directory", dir])
        #expect(after.status == 0)
        #expect(after.output.contains("gap: \(victim.records) records"), "\(after.output)")

        // A replay across the gap says so (and needs no DSN: it reads the journal only).
        try """
            source: { dsn_env: PGREFLEX_TEST_UNSET_DSN, slot: s, publication: p }
            journal: { directory: "\(dir)" }
            sink: { file: { path: "\(dir)/replayed.jsonl" } }
            """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
        let replay = PostgresCluster.run([exe, "replay", "--config", dir + "/run.yaml", "--from-lsn", "0/0", "--dry-run"])
        #expect(replay.status == 0, "\(replay.output)")
        #expect(replay.output.contains("missing from the journal: \(victim.records) records"), "\(replay.output)")
        let backwards = PostgresCluster.run([exe, "replay", "--config", dir + "/run.yaml", "--from-lsn", "0/10", "--to-lsn", "0/5"])
        #expect(backwards.status != 0)
        #expect(backwards.output.contains("--to-lsn 0/5 is before --from-lsn 0/10"), "\(backwards.output)")
        #expect(!backwards.output.contains("journal_io"))

        // A directory that is not a journal is an error, not "0 segments".
        let notJournal = PostgresCluster.run([exe, "journal", "inspect", "--directory", NSTemporaryDirectory()])
        #expect(notJournal.status == 1)
        #expect(notJournal.output.contains("journal_not_found"), "\(notJournal.output)")
    }
}
