import Foundation
import PGReflexTestSupport
import Testing

/// A slot that starts past the journal's end skipped WAL the journal never saw: `run` refuses,
/// names both positions and the fixes, and leaves no slot behind; `--accept-gap` goes on and
/// records the gap, which `journal inspect` reports (issue 26, item 11).
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct SlotGapTests {
    func configure(_ f: RouteFixture) throws {
        try """
            source: { dsn: "\(f.cluster.conninfo)", slot: \(f.name)_slot, publication: \(f.name)_pub, create_slot: true }
            journal: { directory: ./journal }
            agents:
              out: { file: { path: ./out.jsonl } }
            routes:
              all: { tables: ["\(f.name).*"], agent: out, start: earliest }
            """.write(toFile: f.config, atomically: true, encoding: .utf8)
    }

    func ids(_ f: RouteFixture) throws -> [Int] {
        try f.lines("out.jsonl").compactMap { ($0.json["after"] as? [String: Any])?["id"] as? Int }
    }

    func slotExists(_ f: RouteFixture) throws -> Bool {
        try f.cluster.psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '\(f.name)_slot'")
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    @Test func aRecreatedSlotIsRefusedThenAcceptedWithTheGapRecorded() throws {
        let f = try RouteFixture("slotgap", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try configure(f)
        try f.sql("INSERT INTO orders VALUES (10);")
        let first = try f.runToEnd()
        #expect(first.status == 0, "\(first.output)")
        #expect(try ids(f) == [10])
        // An idle restart is no gap (the slot's keepalive position is recorded before it is confirmed).
        let idle = f.command(["run", "--config", f.config, "--idle-exit", "2"])
        #expect(idle.status == 0, "\(idle.output)")

        try f.cluster.psql("SELECT pg_drop_replication_slot('\(f.name)_slot')")
        try f.sql("INSERT INTO orders VALUES (11);")
        let refused = f.command(["run", "--config", f.config, "--idle-exit", "2"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("slot_past_journal") && refused.output.contains("past the journal's end at")
                && refused.output.contains("pgreflex snapshot start") && refused.output.contains("--accept-gap"), "\(refused.output)")
        #expect(try !slotExists(f), "the refused start took back the slot it created")

        try f.sql("INSERT INTO orders VALUES (12);")
        // Not --end-lsn: the new slot starts past every LSN of what came before it.
        let accepted = f.command(["run", "--config", f.config, "--accept-gap", "--idle-exit", "2"])
        #expect(accepted.status == 0, "\(accepted.output)")
        #expect(accepted.output.contains("the slot starts past the journal"), "\(accepted.output)")
        let inspect = f.command(["journal", "inspect", "--directory", f.dir + "/journal"])
        #expect(inspect.output.contains("were never captured") && inspect.output.contains("1 gaps of WAL never captured"), "\(inspect.output)")
        // 11 was lost with the dropped slot; 12 came after the new one.
        try f.sql("INSERT INTO orders VALUES (13);")
        let after = try f.runToEnd()
        #expect(after.status == 0, "\(after.output)")
        let delivered = try ids(f)
        #expect(delivered == [10, 13], "\(delivered)")
    }

    /// The same check for a slot that was there before: here the journal is restored from a
    /// copy older than what the slot has confirmed (as a slot another tool advanced would be).
    @Test func anExistingSlotAheadOfTheJournalIsRefused() throws {
        let f = try RouteFixture("slotadv", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try configure(f)
        try f.sql("INSERT INTO orders VALUES (1);")
        #expect(try f.runToEnd().status == 0)
        let journal = f.dir + "/journal"
        try FileManager.default.copyItem(atPath: journal, toPath: f.dir + "/journal-copy")
        try f.sql("INSERT INTO orders VALUES (2);")
        #expect(try f.runToEnd().status == 0)
        try FileManager.default.removeItem(atPath: journal)
        try FileManager.default.moveItem(atPath: f.dir + "/journal-copy", toPath: journal)
        let refused = f.command(["run", "--config", f.config, "--idle-exit", "2"])
        #expect(refused.status != 0 && refused.output.contains("slot_past_journal"), "\(refused.output)")
        #expect(try slotExists(f), "a slot that was there before stays")
    }
}
