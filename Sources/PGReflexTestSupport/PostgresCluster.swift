import Foundation
import PGReflexLocalPostgres
import Testing

/// A throwaway PostgreSQL cluster with `wal_level = logical`: initdb into a fresh temp
/// directory, a free port, the Unix socket in that directory. When running as root, the
/// server runs as the `postgres` OS user (PostgreSQL refuses root), as `runuser` allows.
///
/// An instance is either a whole server of its own (`start`), or one database on the server
/// that suites with default settings share (`PostgresCluster.SharedServer`): then `conninfo`
/// and `psql` reach that database, `destroy` drops it with its slots, and stopping or
/// restarting the server is refused, since other suites are using it.
public final class PostgresCluster: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Holds the socket, the data directory and the server log.
    public let directory: String
    public let port: Int
    public let binDirectory: String
    private let osUser: String?
    /// The database that `conninfo` and `psql` reach.
    public let database: String
    /// False for a database on the shared server: stopping the server is not this suite's to do.
    public let ownsServer: Bool

    public var dataDirectory: String { directory + "/data" }
    public var logFile: String { directory + "/postgres.log" }

    /// libpq conninfo for an ordinary session.
    public var conninfo: String { "host=\(directory) port=\(port) user=postgres dbname=\(database)" }

    private init(directory: String, port: Int, binDirectory: String, osUser: String?, database: String = "postgres",
                 ownsServer: Bool = true) {
        self.directory = directory
        self.port = port
        self.binDirectory = binDirectory
        self.osUser = osUser
        self.database = database
        self.ownsServer = ownsServer
    }

    /// A new database on this server, as an instance that reaches it and does not own the server.
    func makeDatabase(_ name: String) throws -> PostgresCluster {
        try psql("CREATE DATABASE \(name)")
        return PostgresCluster(directory: directory, port: port, binDirectory: binDirectory, osUser: osUser, database: name,
                               ownsServer: false)
    }

    /// Drops this database and its replication slots (slots are the server's, not the
    /// database's: a left-over one would keep WAL for every other suite). Sessions still
    /// connected, pgreflex children a failed test left running among them, are ended first.
    func dropDatabase() {
        let maintenance = ["psql", "host=\(directory) port=\(port) user=postgres dbname=postgres", "-X", "-q", "-At", "-c"]
        for _ in 0..<50 {
            _ = Self.run(maintenance + ["""
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(database)';
                SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '\(database)' AND NOT active;
                """])
            if Self.run(maintenance + ["DROP DATABASE IF EXISTS \(database) WITH (FORCE)"]).status == 0 { return }
            usleep(100_000)
        }
        Issue.record("could not drop the test database \(database)")
    }

    /// initdb and start. `settings` are appended to postgresql.conf.
    public static func start(settings: [String] = []) throws -> PostgresCluster {
        let bin = try findBinDirectory()
        let directory = try makeShortTempDirectory()
        let osUser: String? = getuid() == 0 ? "postgres" : nil
        if let osUser {
            if run(["/usr/bin/id", "-u", osUser]).status != 0 {
                _ = run(["/usr/sbin/useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", osUser])
            }
            _ = run(["/bin/chown", osUser, directory])
        }
        let cluster = PostgresCluster(directory: directory, port: try freePort(), binDirectory: bin, osUser: osUser)
        do {
            try cluster.initdb(settings: settings)
            try cluster.startServer()
        } catch {
            cluster.destroy()
            throw error
        }
        return cluster
    }

    private func asServerUser(_ command: [String]) -> [String] {
        guard let osUser else { return command }
        return ["/usr/sbin/runuser", "-u", osUser, "--"] + command
    }

    private func initdb(settings: [String]) throws {
        let result = Self.run(asServerUser([
            binDirectory + "/initdb", "-D", dataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
        ]), directory: directory)
        guard result.status == 0 else { throw Failure(description: "initdb failed: \(result.output)") }
        // The demo's settings, then what tests add (TCP on loopback; speed over durability).
        let conf = """

            # pgreflex test cluster
            \(LocalPostgres.settings(port: port, socketDirectory: directory).joined(separator: "\n"))
            listen_addresses = '127.0.0.1'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            logical_decoding_work_mem = '64kB'
            # Room for the suites that share one server: their slots stay until their database goes.
            max_replication_slots = 200
            max_wal_senders = 60
            max_connections = 200
            \(settings.joined(separator: "\n"))

            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dataDirectory + "/postgresql.conf"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(conf.utf8))
        try handle.close()
    }

    public func startServer() throws {
        try requireOwnServer("start")
        let result = Self.run(asServerUser([
            binDirectory + "/pg_ctl", "-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-o", "-p \(port)", "start",
        ]), directory: directory)
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            throw Failure(description: "pg_ctl start failed: \(result.output)\n\(log.suffix(2000))")
        }
    }

    public func stopServer(mode: String = "fast") throws {
        try requireOwnServer("stop")
        _ = Self.run(asServerUser([binDirectory + "/pg_ctl", "-D", dataDirectory, "-w", "-t", "60", "-m", mode, "stop"]),
                     directory: directory)
    }

    public func restart() throws {
        try stopServer()
        try startServer()
    }

    private func requireOwnServer(_ verb: String) throws {
        guard ownsServer else {
            throw Failure(description: "cannot \(verb) the shared server: give the suite a server of its own with .ownPostgresCluster")
        }
    }

    /// Stops the server (immediately: the data is thrown away) and removes the directory; for a
    /// database on the shared server, drops the database.
    public func destroy() {
        guard ownsServer else { return dropDatabase() }
        if FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") {
            try? stopServer(mode: "immediate")
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs SQL through psql (for scripts that CALL procedures with COMMIT inside).
    @discardableResult
    public func psql(_ sql: String) throws -> String {
        let result = Self.run(["psql", conninfo, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard result.status == 0 else { throw Failure(description: "psql failed: \(result.output)") }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func psqlFile(_ path: String) throws {
        let result = Self.run(["psql", conninfo, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-f", path])
        guard result.status == 0 else { throw Failure(description: "psql -f failed: \(result.output)") }
    }

    // MARK: helpers

    static func findBinDirectory() throws -> String {
        do { return try LocalPostgres.findBinDirectory() } catch { throw Failure(description: error.description) }
    }

    static func makeShortTempDirectory() throws -> String {
        do { return try LocalPostgres.makeShortTempDirectory() } catch { throw Failure(description: error.description) }
    }

    public static func freePort() throws -> Int {
        do { return try LocalPostgres.freePort() } catch { throw Failure(description: error.description) }
    }

    /// Starts a command in the background; its output goes to the given files (or /dev/null).
    /// Wait for it with `wait(_:)`, or end it with `kill`.
    /// `environment` is the child's whole environment (default: this process's): pass it rather
    /// than `setenv`, which races with other threads spawning.
    public static func spawn(_ command: [String], standardOutput: String? = nil, standardError: String? = nil,
                             environment: [String: String]? = nil) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, standardError ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o600)
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { env?.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = env.map { env in env.withUnsafeBufferPointer { posix_spawnp(&pid, command[0], &actions, nil, argv, UnsafeMutablePointer(mutating: $0.baseAddress)) } }
            ?? posix_spawnp(&pid, command[0], &actions, nil, argv, environ)
        guard rc == 0 else { return -1 }
        return pid
    }

    /// How long a child may run before `run` or `wait` kills it (`PGREFLEX_TEST_CHILD_TIMEOUT`,
    /// seconds): a hang fails its test with the child's output instead of stalling CI.
    public static let childTimeout: Double = ProcessInfo.processInfo.environment["PGREFLEX_TEST_CHILD_TIMEOUT"].flatMap(Double.init) ?? 600

    /// The exit status `run` and `wait` give a child they killed at the deadline.
    public static let timedOutStatus: Int32 = 124

    /// Waits for a spawned command; returns its exit status (128 + signal when killed). Past
    /// `timeout` seconds the child is killed, the test gets an issue, and the status is
    /// `timedOutStatus`.
    @discardableResult
    public static func wait(_ pid: Int32, timeout: Double = childTimeout) -> Int32 {
        guard let status = reap(pid, timeout: timeout) else {
            Issue.record("process \(pid) did not exit within \(Int(timeout)) s: killed")
            return timedOutStatus
        }
        return status
    }

    /// The exit status, or nil when the child was still running at the deadline (then killed).
    static func reap(_ pid: Int32, timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { return -1 }
            if Date() >= deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return nil
            }
            usleep(reaped == 0 ? 10_000 : 0)
        }
        return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    public struct RunResult: Sendable {
        public var status: Int32
        public var output: String

        public init(status: Int32, output: String) {
            self.status = status
            self.output = output
        }
    }

    /// Runs a command, returning its exit status and combined output. Output goes through a
    /// temp file, not a pipe, so a daemon that inherits it (the postmaster) cannot hold us up.
    @discardableResult
    public static func run(
        _ command: [String], directory: String? = nil, environment: [String: String]? = nil, standardOutput: String? = nil,
        timeout: Double = childTimeout
    ) -> RunResult {
        var template = Array("/tmp/pgr-out-XXXXXX".utf8CString)
        let outFD = mkstemp(&template)
        guard outFD >= 0 else { return RunResult(status: -1, output: "mkstemp failed") }
        let outPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer {
            close(outFD)
            unlink(outPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let standardOutput {
            posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, outFD, 1)
        }
        posix_spawn_file_actions_adddup2(&actions, outFD, 2)
        // env -C: run in `directory` (initdb and pg_ctl complain about an unreadable cwd such as /root).
        let command = directory.map { ["/usr/bin/env", "-C", $0] + command } ?? command
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env: [UnsafeMutablePointer<CChar>?]
        if let environment {
            env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        } else {
            env = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { env.forEach { free($0) } }

        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, command[0], &actions, nil, argv, env)
        guard rc == 0 else { return RunResult(status: -1, output: "cannot run \(command[0]): error \(rc)") }
        let exitStatus = reap(pid, timeout: timeout)
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard let exitStatus else {
            let shown = command.map { $0.count > 200 ? String($0.prefix(200)) + "…" : $0 }.joined(separator: " ")
            Issue.record("\(shown) did not exit within \(Int(timeout)) s: killed. Its output:\n\(output.suffix(4000))")
            return RunResult(status: timedOutStatus, output: "timed out after \(Int(timeout)) s\n" + output)
        }
        return RunResult(status: exitStatus, output: output)
    }
}
