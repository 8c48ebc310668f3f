import Foundation
import Logging
import PGReflexJournal
import PGReflexTestSupport
import PGReflexWire
import Testing

/// `pgreflex journal inspect` and `journal repair`, run as the real executable.
@Suite struct JournalCommandTests {
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
        #expect(broken.output.contains("\(victim.name)"))
        #expect(broken.output.contains("journal_corrupt_record at byte \(JournalSegment.header.count)"))

        let dryRun = PostgresCluster.run([exe, "journal", "repair", "--directory", dir])
        #expect(dryRun.output.contains("would cut \(victim.name)"))
        #expect(PostgresCluster.run([exe, "journal", "inspect", "--directory", dir]).status == 1)

        let repaired = PostgresCluster.run([exe, "journal", "repair", "--directory", dir, "--yes"])
        #expect(repaired.status == 0 && repaired.output.contains("cut \(victim.name)"))
        #expect(PostgresCluster.run([exe, "journal", "inspect", "--directory", dir]).status == 0)
    }
}
