import Foundation
import PGReflexTestSupport
import Testing

/// What a new user meets first: the README's quick start checks as written, docs/cli.md's `run`
/// example, followed literally, delivers; a YAML mistake in a file that holds a password never
/// prints the password. Real executable.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct FirstRunTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `run.yaml` of docs/cli.md, as written there.
    func readmeConfiguration() throws -> String {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("docs/cli.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "cat > run.yaml <<'YAML'\n"))
        let end = try #require(readme.range(of: "\nYAML\n", range: start.upperBound..<readme.endIndex))
        return String(readme[start.upperBound..<end.lowerBound])
    }

    /// The README's quick start configuration passes `pgreflex check`, against the registry too.
    @Test func theReadmeQuickStartChecksAsWritten() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "   ```yaml\n   # run.yaml\n"))
        let end = try #require(readme.range(of: "\n   ```\n", range: start.upperBound..<readme.endIndex))
        let yaml = readme[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("   ") ? String($0.dropFirst(3)) : String($0) }.joined(separator: "\n")
        let dir = NSTemporaryDirectory() + "pgreflex-quickstart-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try yaml.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
        let environment = ["PGREFLEX_DSN": "host=db dbname=app user=pgreflex", "PATH": "/usr/bin:/bin",
                           "FRAUD_WEBHOOK_SECRET": "whsec_" + Data("a test secret of 32 bytes length".utf8).base64EncodedString()]
        let check = PostgresCluster.run([try pgreflexExecutable(), "check", "--config", dir + "/run.yaml", "--registry", Self.root.path + "/Schemas"],
                                        environment: environment)
        #expect(check.status == 0 && check.output.contains("1 agents, 1 routes, routes checked against"), "\(check.output)\n\(yaml)")
    }

    @Test func theReadmeRunExampleDeliversAsWritten() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE orders (id int PRIMARY KEY, total numeric(12,2))")
        let dir = NSTemporaryDirectory() + "pgreflex-readme-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try readmeConfiguration().write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["PGREFLEX_DSN"] = cluster.conninfo
        let exe = try pgreflexExecutable()
        // The first start creates the slot and the publication; changes from then on are captured.
        let first = PostgresCluster.run([exe, "run", "--config", dir + "/run.yaml", "--idle-exit", "1"], environment: environment)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("the schema registry does not exist yet"), "\(first.output)")
        try cluster.psql("INSERT INTO orders VALUES (1, 10.50), (2, 99.00)")
        let end = "\(try cluster.currentInsertLSN())"
        let second = PostgresCluster.run([exe, "run", "--config", dir + "/run.yaml", "--end-lsn", end], environment: environment)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("registered the table's first schema version"), "\(second.output)")
        let lines = try parseLines(Data(contentsOf: URL(fileURLWithPath: dir + "/events.jsonl")))
        #expect(lines.map { $0.after?["id"] as? Int } == [1, 2])
        #expect(lines.allSatisfy { $0.source["schema_version"] as? Int == 1 })
        // The sink's directory is created as the journal's is.
        try readmeConfiguration().replacingOccurrences(of: "./events.jsonl", with: "./out/events.jsonl")
            .write(toFile: dir + "/nested.yaml", atomically: true, encoding: .utf8)
        let nested = PostgresCluster.run([exe, "run", "--config", dir + "/nested.yaml", "--idle-exit", "1"], environment: environment)
        #expect(nested.status == 0, "\(nested.output)")
        #expect(FileManager.default.fileExists(atPath: dir + "/out/events.jsonl"))
        try cluster.psql("SELECT pg_drop_replication_slot('app_slot')")
    }

    @Test func aYAMLErrorNeverEchoesTheFile() throws {
        let dir = NSTemporaryDirectory() + "pgreflex-yaml-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secrets = ["s3cretPassw0rd", "an0therSecret", "uriPassw0rd", "k3yMaterial", "q8Zk2vX9bN4mL7pR1tY6wE3uI0oA5sD8fG2hJ4kL9zc="]
        let files = [
            // A duplicate key: Yams's own message quotes the whole file.
            "dup": """
                source:
                  dsn: "host=db password=\(secrets[0]) dbname=app"
                  slot: a
                  slot: b
                journal: { directory: ./journal }
                # password=\(secrets[1])
                """,
            // A syntax error on the line that holds the secret.
            "syntax": """
                source:
                  dsn: postgresql://app:\(secrets[2])@db/app
                  slot: [unclosed
                privacy: { keys: { k1: \(secrets[3]) } }
                """,
            "keymaterial": """
                privacy:
                  keys:
                    - { id: k1, value: \(secrets[4]) } ]
                """,
            "onthesecretline": """
                source:
                  dsn: "host=db password=\(secrets[0])" extra: [
                """,
        ]
        let exe = try pgreflexExecutable()
        for (name, text) in files {
            let path = dir + "/\(name).yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let result = PostgresCluster.run([exe, "run", "--config", path], standardOutput: dir + "/\(name).out")
            #expect(result.status == 1, "\(name): \(result.output)")
            #expect(result.output.contains("not valid YAML"), "\(name): \(result.output)")
            #expect(result.output.contains("\(path):"), "\(name): \(result.output)")
            try result.output.write(toFile: dir + "/\(name).err", atomically: true, encoding: .utf8)
        }
        let (hits, scanned) = LeakScan.scan([dir], for: secrets)
        let leaks = hits.filter { !$0.file.hasSuffix(".yaml") }
        #expect(scanned >= 8)
        #expect(leaks.isEmpty, "\(leaks)")
    }
}
