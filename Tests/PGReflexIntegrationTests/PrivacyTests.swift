import Foundation
import PGReflexPrivacy
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// PII through the real executable: `run` (journal, sink, checkpoint, logs) and `tail`
/// (stdout, stderr) write no protected plaintext anywhere, and what they write reverses or
/// matches as each policy promises. A small logical_decoding_work_mem makes the big
/// transaction stream through the spill path too.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct PrivacyTests {
    static let rows = 2000

    static func email(_ i: Int) -> String { "person\(i).private@example\(i % 7).org" }
    static func phone(_ i: Int) -> String { "+1-555-\(String(format: "%03d", i % 1000))-\(String(format: "%04d", 1000 + i))" }
    static func ssn(_ i: Int) -> String { String(format: "%03d-%02d-%04d", 100 + i % 800, 10 + i % 89, 1000 + i) }
    static func notes(_ i: Int) -> String { "diagnosis-secret-\(i)-zz" }
    static func internalRating(_ i: Int) -> String { "rating-internal-\(i)-qq" }
    static func legacy(_ i: Int) -> String { "legacy-password-\(i)-ww" }

    /// Every plaintext a protected column ever held: new values and the ones updates replaced.
    static var plaintexts: [String] {
        (1...rows).flatMap { [email($0), phone($0), ssn($0), notes($0), internalRating($0), legacy($0)] }
            + (1...rows / 10).map { "changed.\($0)@example.net" }
    }

    @Test func nothingProtectedLeaksThroughRunOrTail() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE TABLE customers (id int PRIMARY KEY, name text, email text, phone text, ssn text, notes text,
                                    internal_rating text, legacy_password text, age int);
            ALTER TABLE customers REPLICA IDENTITY FULL;
            CREATE TABLE audit_log (id serial PRIMARY KEY, email text);
            CREATE PUBLICATION pii_pub FOR TABLE customers, audit_log;
            """)
        try cluster.createSlot("pii_run")
        try cluster.createSlot("pii_tail")

        // The same values as email(_:), phone(_:) and the rest, made by the server.
        func rows(_ range: ClosedRange<Int>) -> String {
            """
            INSERT INTO customers SELECT i, 'Name ' || i, 'person' || i || '.private@example' || (i % 7) || '.org',
                '+1-555-' || lpad((i % 1000)::text, 3, '0') || '-' || (1000 + i), (100 + i % 800) || '-' || (10 + i % 89) || '-' || (1000 + i),
                'diagnosis-secret-' || i || '-zz', 'rating-internal-' || i || '-qq', 'legacy-password-' || i || '-ww', 20 + i % 50
            FROM generate_series(\(range.lowerBound), \(range.upperBound)) i
            """
        }
        // Small transactions, then one big one (streamed), updates with before images, deletes.
        for i in 1...200 { try cluster.psql(rows(i...i)) }
        try cluster.psql(rows(201...Self.rows))
        #expect(try cluster.psql("SELECT email || ' ' || phone || ' ' || ssn FROM customers WHERE id = 1234")
            == "\(Self.email(1234)) \(Self.phone(1234)) \(Self.ssn(1234))")
        try cluster.psql("UPDATE customers SET email = 'changed.' || id || '@example.net' WHERE id <= \(Self.rows / 10)")
        try cluster.psql("UPDATE customers SET phone = phone WHERE id % 3 = 0")
        try cluster.psql("DELETE FROM customers WHERE id > \(Self.rows - 50)")
        try cluster.psql("INSERT INTO audit_log (email) SELECT email FROM customers WHERE id <= 20")
        let end = try cluster.currentInsertLSN()

        let dir = NSTemporaryDirectory() + "pgreflex-privacy-\(UUID().uuidString)"
        let temp = dir + "/tmp"
        try FileManager.default.createDirectory(atPath: temp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let oldKey = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let newKey = Data((0..<32).map { UInt8(100 + $0) }).base64EncodedString()
        try "k1:\(oldKey)\nk2:\(newKey)\n".write(toFile: dir + "/privacy.keys", atomically: true, encoding: .utf8)
        chmod(dir + "/privacy.keys", 0o600)
        try """
            source: { dsn: "\(cluster.conninfo)", slot: pii_run, publication: pii_pub, tables: [public.customers, public.audit_log] }
            journal: { directory: ./journal }
            sink: { file: { path: ./events.jsonl } }
            privacy:
              keys: { file: ./privacy.keys }
              columns:
                - { match: public.customers.email, policy: tokenize }
                - { match: "public.*.email", policy: hash }
                - { match: "public.*.phone", policy: mask, keep_last: 4 }
                - { match: "*.*.ssn", policy: hash }
                - { match: public.customers.notes, policy: redact }
                - { match: public.customers.internal_rating, policy: drop }
              tables:
                public.customers: { exclude: [legacy_password] }
            """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)

        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = temp
        let exe = try pgreflexExecutable()
        let run = PostgresCluster.run([exe, "run", "--config", dir + "/run.yaml", "--end-lsn", "\(end)", "--log-level", "trace"],
                                      environment: environment)
        #expect(run.status == 0, "\(run.output.suffix(2000))")
        try run.output.write(toFile: dir + "/run.log", atomically: true, encoding: .utf8)
        let tail = PostgresCluster.run([exe, "tail", "--dsn", cluster.conninfo, "--slot", "pii_tail", "--publication", "pii_pub",
                                        "--privacy", dir + "/run.yaml", "--end-lsn", "\(end)", "--log-level", "trace"],
                                       environment: environment, standardOutput: dir + "/tail.jsonl")
        #expect(tail.status == 0, "\(tail.output.suffix(2000))")
        try tail.output.write(toFile: dir + "/tail.stderr", atomically: true, encoding: .utf8)

        // The scan: everything pgreflex wrote, and the temp dir it spilled to.
        // A canary first: the scan does find a plaintext where there is one.
        let canary = NSTemporaryDirectory() + "pgreflex-canary-\(UUID().uuidString)"
        try "x\0\(Self.ssn(1500))\0y".write(toFile: canary, atomically: true, encoding: .utf8)
        defer { unlink(canary) }
        #expect(LeakScan.scan([canary], for: Self.plaintexts).hits.map(\.value) == [Self.ssn(1500)])
        let scan = LeakScan.scan([dir], for: Self.plaintexts)
        #expect(scan.files >= 6, "scanned \(scan.files) files")
        #expect(scan.hits.isEmpty, "\(scan.hits.count) leaks, first: \(scan.hits.prefix(5))")

        let ran = try parseLines(Data(contentsOf: URL(fileURLWithPath: dir + "/events.jsonl")))
        let tailed = try parseLines(Data(contentsOf: URL(fileURLWithPath: dir + "/tail.jsonl")))
        // Both paths protect alike: same keys, same deterministic output, event for event.
        #expect(ran.count == Self.rows + Self.rows / 10 + Self.rows / 3 + 50 + 20)
        #expect(ran.map(\.raw.count) == tailed.map(\.raw.count))
        #expect(ran.map { $0.after?["email"] as? String } == tailed.map { $0.after?["email"] as? String })

        let customers = ran.filter { $0.table == "customers" }
        let created = try #require(customers.first { $0.op == "c" && $0.after?["id"] as? Int == 7 }?.after)
        #expect(Set(created.keys) == ["id", "name", "email", "phone", "ssn", "notes", "age"])
        #expect((created["email"] as? String)?.hasPrefix("tok:k2:") == true)
        #expect(created["phone"] as? String == String(repeating: "*", count: Self.phone(7).count - 4) + Self.phone(7).suffix(4))
        #expect((created["ssn"] as? String)?.hasPrefix("hash:k2:") == true)
        #expect(created["notes"] as? String == "[redacted]")
        #expect(created["age"] as? Int == 27 && created["name"] as? String == "Name 7")

        // Updates: the before image is protected too, and reverses to the old value.
        let update = try #require(customers.first { $0.op == "u" && $0.after?["id"] as? Int == 7 })
        let before = try #require(update.before)
        #expect(before["legacy_password"] == nil && before["internal_rating"] == nil)
        let tokens = [before["email"] as! String, update.after!["email"] as! String]
        let detokenized = PostgresCluster.run([exe, "detokenize", "--config", dir + "/run.yaml"] + tokens)
        #expect(detokenized.status == 0, "\(detokenized.output)")
        #expect(detokenized.output == "\(Self.email(7))\nchanged.7@example.net\n")
        #expect(before["ssn"] as? String == update.after?["ssn"] as? String)

        // The same email hashes alike wherever it appears (joins keep working), tokenized in one table and hashed in another.
        let audit = ran.filter { $0.table == "audit_log" }
        #expect(audit.count == 20)
        #expect(audit.allSatisfy { ($0.after?["email"] as? String)?.hasPrefix("hash:k2:") == true })
        #expect(Set(audit.compactMap { $0.after?["email"] as? String }).count == 20)

        // The registry records what events carry: protected columns as strings, dropped ones gone.
        let snapshot = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "public.customers",
                                            "--privacy", dir + "/run.yaml", "--registry", dir + "/Schemas"])
        #expect(snapshot.status == 0, "\(snapshot.output)")
        let schema = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: dir + "/Schemas/public.customers/v1.json"))) as? [String: Any])
        let identity = try #require((schema["$defs"] as? [String: Any])?["identity"] as? [String: Any])
        let properties = try #require(identity["properties"] as? [String: [String: Any]])
        #expect(Set(properties.keys) == ["id", "name", "email", "phone", "ssn", "notes", "age"])
        #expect(properties["email"]?["x-pgreflex-protection"] as? String == "tokenize")
        func types(_ column: String) -> [String?] { (properties[column]?["anyOf"] as? [[String: Any]] ?? []).map { $0["type"] as? String } }
        #expect(types("email") == ["string", "null"])
        #expect(types("age") == ["integer", "null"])
        // And the events delivered validate against it.
        let failures = try validateAgainstRegistry(try parseLines(Data(contentsOf: URL(fileURLWithPath: dir + "/events.jsonl"))), registry: dir + "/Schemas")
        #expect(failures.isEmpty, "\(failures.prefix(10))")

        // Rotation: with k1 active, tokens differ, and the k1+k2 keyring reverses both.
        try """
            privacy:
              keys: { file: ./privacy.keys, active: k1 }
              columns: [{ match: public.customers.email, policy: tokenize }]
            """.write(toFile: dir + "/old.yaml", atomically: true, encoding: .utf8)
        let oldTail = PostgresCluster.run([exe, "tail", "--dsn", cluster.conninfo, "--slot", "pii_run", "--publication", "pii_pub",
                                           "--privacy", dir + "/old.yaml", "--start-lsn", "\(end)", "--idle-exit", "1"])
        #expect(oldTail.status == 0, "\(oldTail.output)")
        try cluster.psql("INSERT INTO customers (id, email) VALUES (99999, 'rotated@example.com')")
        let end2 = try cluster.currentInsertLSN()
        let oldOut = dir + "/old.jsonl"
        let oldRun = PostgresCluster.run([exe, "tail", "--dsn", cluster.conninfo, "--slot", "pii_run", "--publication", "pii_pub",
                                          "--privacy", dir + "/old.yaml", "--end-lsn", "\(end2)"], standardOutput: oldOut)
        #expect(oldRun.status == 0, "\(oldRun.output)")
        let oldToken = try #require(try parseLines(Data(contentsOf: URL(fileURLWithPath: oldOut))).last?.after?["email"] as? String)
        #expect(oldToken.hasPrefix("tok:k1:"))
        #expect(PostgresCluster.run([exe, "detokenize", "--config", dir + "/run.yaml", oldToken]).output == "rotated@example.com\n")
        // A bad token or an empty line keeps the output aligned with the input: an empty line, an error on stderr, exit 1.
        let aligned = PostgresCluster.run([exe, "detokenize", "--config", dir + "/run.yaml", oldToken, "tok:k1:damaged", "", oldToken],
                                          standardOutput: dir + "/aligned.out")
        #expect(aligned.status == 1)
        #expect(aligned.output.contains("line 2"), "\(aligned.output)")
        #expect(try String(contentsOfFile: dir + "/aligned.out", encoding: .utf8) == "rotated@example.com\n\n\nrotated@example.com\n")
        #expect(LeakScan.scan([dir + "/old.jsonl"], for: ["rotated@example.com"]).hits.isEmpty)
    }

    @Test func configurationMistakesAboutKeysAreClear() throws {
        let dir = NSTemporaryDirectory() + "pgreflex-privacy-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        try "k1:\(key)\n".write(toFile: dir + "/open.keys", atomically: true, encoding: .utf8)
        chmod(dir + "/open.keys", 0o644)
        let exe = try pgreflexExecutable()
        let cases: [(String, String)] = [
            ("privacy:\n  keys: { file: ./open.keys }\n", "readable by other users: chmod 600"),
            ("privacy:\n  keys: { k1: \"\(key)\" }\n", "Key material never goes in this file"),
            ("privacy:\n  columns: [{ match: a.b.c, policy: hash }]\n", "hash and tokenize need keys"),
            ("privacy:\n  columns: [{ match: a.b, policy: redact }]\n", "is not schema.table.column"),
            ("privacy:\n  columns: [{ match: a.b.c, policy: encrypt }]\n", "unknown policy 'encrypt'"),
            ("privacy:\n  columns: [{ match: a.b.c, policy: hash, keep_last: 4 }]\n", "keep_last does not apply to policy hash"),
            ("privacy:\n  keys: { env: PGREFLEX_TEST_NO_SUCH_VAR }\n", "not set"),
        ]
        for (text, words) in cases {
            try text.write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
            let result = PostgresCluster.run([exe, "detokenize", "--config", dir + "/p.yaml", "tok:k1:AAAA"])
            #expect(result.status != 0)
            #expect(result.output.contains(words), "\(text) → \(result.output)")
            #expect(!result.output.contains(key))
        }
    }
}
