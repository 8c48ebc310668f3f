import Foundation
import PGReflexTestSupport
import Testing

/// A start that fails leaves the server as it found it: no new slot holding WAL, no
/// publication it created. A slot that was there before is never dropped. Real executable.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct FailedStartTests {
    func slots(_ cluster: PostgresCluster) throws -> String {
        try cluster.psql("SELECT coalesce(string_agg(slot_name, ',' ORDER BY slot_name), '') FROM pg_replication_slots WHERE database = current_database()")
    }

    func publications(_ cluster: PostgresCluster) throws -> String {
        try cluster.psql("SELECT coalesce(string_agg(pubname || ':' || (SELECT count(*) FROM pg_publication_tables t WHERE t.pubname = p.pubname), ',' ORDER BY pubname), '') FROM pg_publication p")
    }

    @Test func tailFailuresLeaveNoSlotBehind() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE fs_a (id int PRIMARY KEY); CREATE TABLE fs_b (id int PRIMARY KEY);
            CREATE PUBLICATION fs_pub FOR TABLE fs_a;
            """)
        try cluster.createSlot("fs_existing")
        let exe = try pgreflexExecutable()
        let slotsBefore = try slots(cluster)
        let publicationsBefore = try publications(cluster)
        let cases: [(flags: [String], code: String, mentions: String)] = [
            // The README's first command on a database without its tables.
            (["--tables", "public.fs_missing", "--create-publication"], "table_not_found", "public.fs_missing"),
            (["--publication", "fs_nopub"], "publication_missing", "--create-publication"),
            (["--tables", "public.fs_b"], "publication_lacks_table", "--create-publication"),
            // Fails after the slot (and the publication table) would be created: both are taken back.
            (["--tables", "public.fs_a,public.fs_b", "--create-publication", "--start-lsn", "0/1"], "start_lsn_unavailable", "pgreflex run"),
        ]
        for (flags, code, mentions) in cases {
            var arguments = [exe, "tail", "--dsn", cluster.conninfo, "--slot", "fs_new", "--create-slot", "--idle-exit", "1"]
            if !flags.contains("--publication") { arguments += ["--publication", "fs_pub"] }
            let result = PostgresCluster.run(arguments + flags)
            #expect(result.status == 1, "\(flags): \(result.output)")
            #expect(result.output.contains(code), "\(flags): \(result.output)")
            #expect(result.output.contains(mentions), "\(flags): \(result.output)")
            #expect(try slots(cluster) == slotsBefore, "\(flags) left a slot behind")
            #expect(try publications(cluster) == publicationsBefore, "\(flags) left a publication change behind")
        }
        // An existing slot is never dropped by a failed start.
        let existing = PostgresCluster.run([exe, "tail", "--dsn", cluster.conninfo, "--slot", "fs_existing", "--create-slot",
                                            "--publication", "fs_pub", "--start-lsn", "0/1", "--idle-exit", "1"])
        #expect(existing.status == 1)
        #expect(existing.output.contains("start_lsn_unavailable"))
        #expect(try slots(cluster) == slotsBefore)
        // An end before the slot's position: an error naming the slot's real position, not a false confirmation.
        let position = try cluster.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'fs_existing'")
        let early = PostgresCluster.run([exe, "tail", "--dsn", cluster.conninfo, "--slot", "fs_existing",
                                         "--publication", "fs_pub", "--end-lsn", "0/100"])
        #expect(early.status == 1, "\(early.output)")
        #expect(early.output.contains("end_lsn_passed"), "\(early.output)")
        #expect(early.output.contains(position), "\(early.output)")
        #expect(!LogLines.contains(early.output, field: "replication.confirmed_lsn", value: "0/100"), "\(early.output)")
        // `slot create` on an existing slot names no flag it does not have.
        let again = PostgresCluster.run([exe, "slot", "create", "--dsn", cluster.conninfo, "--slot", "fs_existing"])
        #expect(again.status == 1)
        #expect(again.output.contains("slot_already_exists"), "\(again.output)")
        #expect(!again.output.contains("--create-slot"), "\(again.output)")
    }

    @Test func runFailuresLeaveNoSlotBehindAndNameConfigKeys() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE fr_a (id int PRIMARY KEY)")
        let exe = try pgreflexExecutable()
        let dir = NSTemporaryDirectory() + "pgreflex-failedrun-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let slotsBefore = try slots(cluster)
        for (source, code, mentions) in [
            ("tables: [public.fr_missing], create_slot: true, create_publication: true", "table_not_found", "source.tables"),
            ("tables: [public.fr_a], create_slot: true", "publication_missing", "source.create_publication: true"),
            ("tables: [public.fr_a], create_publication: true", "slot_not_found", "source.create_slot: true"),
        ] {
            try """
                source: { dsn: "\(cluster.conninfo)", slot: fr_slot, publication: fr_pub, \(source) }
                journal: { directory: ./journal }
                sink: { file: { path: ./events.jsonl } }
                """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
            let result = PostgresCluster.run([exe, "run", "--config", dir + "/run.yaml", "--idle-exit", "1"])
            #expect(result.status == 1, "\(source): \(result.output)")
            #expect(result.output.contains(code), "\(source): \(result.output)")
            #expect(result.output.contains(mentions), "\(source): \(result.output)")
            #expect(!result.output.contains("--create-"), "run named a tail flag: \(result.output)")
            #expect(try slots(cluster) == slotsBefore)
            #expect(try cluster.psql("SELECT count(*) FROM pg_publication WHERE pubname = 'fr_pub'") == "0")
        }
    }
}
