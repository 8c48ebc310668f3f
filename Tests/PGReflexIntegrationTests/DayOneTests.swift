import Foundation
import PGReflexTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Day one, as a new user meets it (issue 27): the README's quick start followed literally,
/// privileges that name what is missing, a second run, a taken port, a wrong port, and what
/// `schema snapshot` registers. Real executable, real cluster.
@Suite(.ownPostgresCluster, .serialized, .timeLimit(.minutes(10)))
struct DayOneTests {
    let cluster: PostgresCluster
    let exe: String

    init() throws {
        cluster = try PostgresCluster.required()
        exe = try pgreflexExecutable()
    }

    /// This process's environment without anything pgreflex reads, plus `extra`: each command
    /// gets its environment explicitly.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var base = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PGREFLEX_") && !$0.key.hasPrefix("FRAUD_") && !$0.key.hasPrefix("PG") }
        base.merge(extra) { $1 }
        return base
    }

    func conninfo(database: String, user: String) -> String {
        "host=\(cluster.directory) port=\(cluster.port) dbname=\(database) user=\(user)"
    }

    func psql(_ sql: String, database: String = "app", user: String = "postgres") -> PostgresCluster.RunResult {
        PostgresCluster.run(["psql", conninfo(database: database, user: user), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    func temporaryDirectory(_ name: String) throws -> String {
        let dir = NSTemporaryDirectory() + "pgreflex-\(name)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Waits for `file` to contain `text`, up to `seconds`; true when it did.
    func waitFor(_ text: String, in file: String, seconds: Double = 60, or process: Int32? = nil) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").contains(text) { return true }
            if let process, kill(process, 0) != 0 { return false }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    func read(_ file: String) -> String { (try? String(contentsOfFile: file, encoding: .utf8)) ?? "" }

    /// The fenced block of `language` that follows `marker` in README.md, dedented.
    static func readmeBlock(_ language: String, after marker: String) throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = text.range(of: marker) else { throw PostgresCluster.Failure(description: "README.md has no '\(marker)'") }
        let lines = text[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let open = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "```" + language }),
              let close = lines[(open + 1)...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "```" })
        else { throw PostgresCluster.Failure(description: "README.md has no ```\(language) block after '\(marker)'") }
        let indent = lines[open].prefix { $0 == " " }.count
        return lines[(open + 1)..<close].map { String($0.dropFirst(min(indent, $0.prefix { $0 == " " }.count))) }
    }

    /// `VAR=value VAR2="v" program args…`, as a shell reads these lines (no quoting in arguments).
    static func shellWords(_ line: String) -> (assignments: [String: String], words: [String]) {
        var assignments: [String: String] = [:]
        var words: [String] = []
        var rest = Substring(line)
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " }
            guard !rest.isEmpty else { break }
            var word = ""
            var quoted = false
            while let c = rest.first, quoted || c != " " {
                rest = rest.dropFirst()
                if c == "\"" { quoted.toggle() } else { word.append(c) }
            }
            if words.isEmpty, let eq = word.firstIndex(of: "="), word[..<eq].allSatisfy({ $0.isUppercase || $0 == "_" || $0.isNumber }) {
                assignments[String(word[..<eq])] = String(word[word.index(after: eq)...])
            } else {
                words.append(word)
            }
        }
        return (assignments, words)
    }

    @Test func theReadmeQuickStartRunsAsWritten() async throws {
        _ = psql("CREATE DATABASE app", database: "postgres")
        #expect(psql("CREATE TABLE public.orders (id bigint PRIMARY KEY, customer_id int, total_amount numeric(12,2), is_first_order boolean)").status == 0)
        // Step 1, as a superuser in the application's database.
        let sql = try Self.readmeBlock("sql", after: "## Quick start on your own database").joined(separator: "\n")
        let setup = psql(sql)
        #expect(setup.status == 0, "\(setup.output)")

        // Step 2: the configuration, with the status server on a free port (9187 may be taken here).
        let dir = try temporaryDirectory("quickstart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try PostgresCluster.freePort()
        let yaml = try Self.readmeBlock("yaml", after: "2. A configuration:").joined(separator: "\n")
            .replacingOccurrences(of: "port: 9187", with: "port: \(port)")
        #expect(yaml.contains("# run.yaml"))
        try yaml.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)

        // Step 3, line by line: the database is this cluster's, the binary the one under test.
        var exported: [String: String] = [:]
        var running: Int32?
        let runLog = dir + "/run.log"
        defer {
            if let running {
                kill(running, SIGKILL)
                PostgresCluster.wait(running)
            }
        }
        let secret = "whsec_" + Data("quick-start-secret-0123456789".utf8).base64EncodedString()
        for line in try Self.readmeBlock("bash", after: "3. Record the tables' schemas") where !line.isEmpty {
            let text = line.replacingOccurrences(of: "host=db", with: "host=\(cluster.directory) port=\(cluster.port)")
                .replacingOccurrences(of: "whsec_…", with: secret)
            if text.hasPrefix("swift build") { continue }  // the binary under test is built
            if text.hasPrefix("export ") {
                exported.merge(Self.shellWords(String(text.dropFirst(7))).assignments) { $1 }
                continue
            }
            let (assignments, words) = Self.shellWords(text)
            #expect(words.first == ".build/release/pgreflex", "\(line)")
            let command = [exe] + words.dropFirst()
            let env = environment(exported.merging(assignments) { $1 })
            if words.dropFirst().first == "run" {
                running = PostgresCluster.spawn(["/usr/bin/env", "-C", dir] + command, standardError: runLog, environment: env)
                // Ready once it streams: the slot is active.
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline, psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'app_slot'").output.trimmingCharacters(in: .whitespacesAndNewlines) != "t" {
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(psql("SELECT active FROM pg_replication_slots WHERE slot_name = 'app_slot'").output.contains("t"), "\(read(runLog))")
                continue
            }
            let result = PostgresCluster.run(command, directory: dir, environment: env)
            #expect(result.status == 0, "\(line): \(result.output)")
            if words.dropFirst().first == "check" {
                // No secret in the environment: a warning, not a failure.
                #expect(result.output.contains("warning: run.yaml") || result.output.contains("secret_env names FRAUD_WEBHOOK_SECRET"), "\(result.output)")
            }
        }
        guard let run = running else {
            Issue.record("the README's commands never started run")
            return
        }
        kill(run, SIGTERM)
        #expect(PostgresCluster.wait(run) == 0, "\(read(runLog))")
        running = nil

        // Day one without a registry: check says what creates it.
        let noRegistry = PostgresCluster.run([exe, "check", "--config", "run.yaml", "--registry", "Missing"], directory: dir, environment: environment())
        #expect(noRegistry.status == 1 && noRegistry.output.contains("`pgreflex schema snapshot --registry Missing`"), "\(noRegistry.output)")

        // Replay on this routes-only configuration: a dry run counts; without one, the error lists the ways.
        let dry = PostgresCluster.run([exe, "replay", "--config", "run.yaml", "--from-lsn", "0/0", "--dry-run"], directory: dir, environment: environment())
        #expect(dry.status == 0, "\(dry.output)")
        let wet = PostgresCluster.run([exe, "replay", "--config", "run.yaml", "--from-lsn", "0/0"], directory: dir, environment: environment())
        #expect(wet.status == 1 && wet.output.contains("--route (one of fraud_check)") && wet.output.contains("--output -"), "\(wet.output)")
    }

    @Test func aPublicationTheRoleMayNotCreateNamesWhatItLacks() async throws {
        _ = psql("CREATE DATABASE app", database: "postgres")
        #expect(psql("CREATE TABLE IF NOT EXISTS public.items (id bigint PRIMARY KEY)").status == 0)
        #expect(psql("CREATE ROLE limited LOGIN REPLICATION; GRANT SELECT ON public.items TO limited").status == 0)
        let dir = try temporaryDirectory("privileges")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            source: { dsn_env: PGREFLEX_DSN, slot: limited_slot, publication: limited_pub, tables: [public.items], create_slot: true, create_publication: true }
            journal: { directory: ./journal }
            sink: { file: { path: ./events.jsonl } }
            """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
        let env = environment(["PGREFLEX_DSN": conninfo(database: "app", user: "limited")])
        func start() -> PostgresCluster.RunResult {
            PostgresCluster.run([exe, "run", "--config", "run.yaml"], directory: dir, environment: env)
        }
        let first = start()
        #expect(first.status == 1)
        #expect(first.output.contains("missing_publication_privilege"), "\(first.output)")
        #expect(first.output.contains("CREATE on the database") && first.output.contains("as the tables' owner"), "\(first.output)")
        #expect(!first.output.contains("missing_replication_privilege"), "\(first.output)")

        #expect(psql("GRANT CREATE ON DATABASE app TO limited").status == 0)
        let second = start()
        #expect(second.status == 1)
        #expect(second.output.contains("missing_publication_privilege") && second.output.contains("ownership of public.items"), "\(second.output)")
        #expect(!second.output.contains("GRANT CREATE ON DATABASE"), "the hint repeats what was done: \(second.output)")
        // Nothing left behind by either start.
        #expect(psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'limited_slot'").output.hasPrefix("0"))
        #expect(psql("SELECT count(*) FROM pg_publication WHERE pubname = 'limited_pub'").output.hasPrefix("0"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []) == ["run.yaml"])

        // The documented fix works.
        #expect(psql("ALTER TABLE public.items OWNER TO limited").status == 0)
        let third = PostgresCluster.run([exe, "run", "--config", "run.yaml", "--idle-exit", "1"], directory: dir, environment: env)
        #expect(third.status == 0, "\(third.output)")
        _ = psql("SELECT pg_drop_replication_slot('limited_slot')")
    }

    @Test func aSecondRunIsToldTheJournalIsLockedAndATakenPortIsNamed() async throws {
        _ = psql("CREATE DATABASE app", database: "postgres")
        #expect(psql("CREATE TABLE IF NOT EXISTS public.locks (id bigint PRIMARY KEY); DROP PUBLICATION IF EXISTS locks_pub; CREATE PUBLICATION locks_pub FOR TABLE public.locks").status == 0)
        let dir = try temporaryDirectory("locked")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try PostgresCluster.freePort()
        func config(_ name: String, journal: String, slot: String) throws {
            try """
                source: { dsn_env: PGREFLEX_DSN, slot: \(slot), publication: locks_pub, tables: [public.locks], create_slot: true }
                journal: { directory: ./\(journal) }
                server: { port: \(port) }
                sink: { file: { path: ./\(journal).jsonl } }
                """.write(toFile: dir + "/\(name).yaml", atomically: true, encoding: .utf8)
        }
        try config("first", journal: "journal", slot: "locks_a")
        try config("other", journal: "journal2", slot: "locks_b")
        let env = environment(["PGREFLEX_DSN": conninfo(database: "app", user: "postgres")])
        let log = dir + "/first.log"
        let first = PostgresCluster.spawn(["/usr/bin/env", "-C", dir, exe, "run", "--config", "first.yaml"], standardError: log, environment: env)
        defer {
            kill(first, SIGKILL)
            PostgresCluster.wait(first)
        }
        #expect(try await waitFor("status server listening", in: log, or: first), "\(read(log))")

        // The same configuration again: the journal's lock, not the port.
        let again = PostgresCluster.run([exe, "run", "--config", "first.yaml"], directory: dir, environment: env)
        #expect(again.status == 1)
        #expect(again.output.contains("journal_locked"), "\(again.output)")
        #expect(!again.output.contains("Address already in use"), "\(again.output)")
        // Another journal, the same port: the address and the setting are named.
        let other = PostgresCluster.run([exe, "run", "--config", "other.yaml"], directory: dir, environment: env)
        #expect(other.status == 1)
        #expect(other.output.contains("server_address_in_use") && other.output.contains("127.0.0.1:\(port)")
                && other.output.contains("server.port in"), "\(other.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/journal2"), "a failed start left its journal behind")
        #expect(psql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'locks_b'").output.hasPrefix("0"), "a failed start left a slot behind")
        kill(first, SIGTERM)
        #expect(PostgresCluster.wait(first) == 0, "\(read(log))")
        _ = psql("SELECT pg_drop_replication_slot('locks_a')")
    }

    @Test func aWrongPortFailsAtOnceNamingTheEndpoint() async throws {
        let dir = try temporaryDirectory("wrongport")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let closed = try PostgresCluster.freePort()
        try """
            source: { dsn_env: PGREFLEX_DSN, slot: nowhere_slot, publication: nowhere_pub, create_slot: true }
            journal: { directory: ./journal }
            sink: { file: { path: ./events.jsonl } }
            """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
        let env = environment(["PGREFLEX_DSN": "host=127.0.0.1 port=\(closed) dbname=app user=postgres password=hunter2-secret"])
        let result = PostgresCluster.run([exe, "run", "--config", "run.yaml"], directory: dir, environment: env)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("connection_failed") && result.output.contains("127.0.0.1") && result.output.contains("\(closed)"), "\(result.output)")
        #expect(!result.output.contains("reconnecting"), "\(result.output)")
        #expect(!result.output.contains("hunter2-secret"), "\(result.output)")
        // A failed first start leaves nothing behind.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        #expect(left == ["run.yaml"], "left behind: \(left)")
    }

    @Test func schemaSnapshotLeavesOutPgreflexsOwnSchemaAndReadsTheDSNFromTheEnvironment() throws {
        _ = psql("CREATE DATABASE app", database: "postgres")
        #expect(psql("CREATE TABLE IF NOT EXISTS public.snap (id bigint PRIMARY KEY); CREATE SCHEMA IF NOT EXISTS pgreflex; CREATE TABLE IF NOT EXISTS pgreflex.action_receipts (key text PRIMARY KEY)").status == 0)
        let dir = try temporaryDirectory("snapshot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = PostgresCluster.run([exe, "schema", "snapshot", "--registry", "Schemas"], directory: dir,
                                         environment: environment(["PGREFLEX_DSN": conninfo(database: "app", user: "postgres")]))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("public.snap") && !result.output.contains("pgreflex.action_receipts"), "\(result.output)")
        // --dsn-env names another variable; an unset one says what to export.
        let named = PostgresCluster.run([exe, "schema", "snapshot", "--registry", "Schemas", "--dsn-env", "APP_DB"], directory: dir,
                                        environment: environment(["APP_DB": conninfo(database: "app", user: "postgres")]))
        #expect(named.status == 0, "\(named.output)")
        let unset = PostgresCluster.run([exe, "slot", "show", "--slot", "x"], directory: dir, environment: environment())
        #expect(unset.status != 0 && unset.output.contains("PGREFLEX_DSN is not set"), "\(unset.output)")
    }
}
