import Foundation
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL cluster from the machine's own binaries, for `pgreflex demo`: initdb
/// into a fresh short temp directory, `wal_level = logical`, a free port, the Unix socket in
/// that directory. As root the server runs as the `postgres` OS user (PostgreSQL refuses
/// root), through `runuser`.
public struct LocalPostgres: Sendable {
    /// Holds the data directory, the socket and the server log.
    public let directory: String
    public let port: Int
    public let binDirectory: String
    let osUser: String?

    public var dataDirectory: String { directory + "/data" }
    public var logFile: String { directory + "/postgres.log" }
    /// libpq conninfo for the superuser.
    public var conninfo: String { "host=\(directory) port=\(port) user=postgres dbname=postgres" }

    /// What logical replication needs, on top of initdb's defaults.
    public static func settings(port: Int, socketDirectory: String) -> [String] {
        ["port = \(port)", "listen_addresses = ''", "unix_socket_directories = '\(socketDirectory)'", "wal_level = logical",
         "max_replication_slots = 20", "max_wal_senders = 20"]
    }

    /// initdb, then start. `settings` go into postgresql.conf after the defaults. Whatever
    /// fails removes what was made.
    public static func start(settings extra: [String] = []) async throws(LocalPostgresError) -> LocalPostgres {
        let bin = try findBinDirectory()
        let directory = try makeShortTempDirectory()
        let osUser: String? = getuid() == 0 ? "postgres" : nil
        let cluster = LocalPostgres(directory: directory, port: try freePort(), binDirectory: bin, osUser: osUser)
        do throws(LocalPostgresError) {
            if let osUser {
                if try await run(["/usr/bin/id", "-u", osUser]).status != 0 {
                    _ = try await run(["/usr/sbin/useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", osUser])
                }
                _ = try await run(["/bin/chown", osUser, directory])
            }
            let initdb = try await run(cluster.asServerUser([bin + "/initdb", "-D", cluster.dataDirectory, "-U", "postgres", "--auth=trust",
                                                             "-E", "UTF8", "--locale=C.UTF-8"]), directory: directory)
            guard initdb.status == 0 else {
                throw LocalPostgresError(code: .initdbFailed, message: "initdb failed in \(directory): \(initdb.output.suffix(1500))")
            }
            let conf = "\n# pgreflex demo\n" + (settings(port: cluster.port, socketDirectory: directory) + extra).joined(separator: "\n") + "\n"
            guard let handle = FileHandle(forWritingAtPath: cluster.dataDirectory + "/postgresql.conf") else {
                throw LocalPostgresError(code: .initdbFailed, message: "initdb left no postgresql.conf in \(cluster.dataDirectory)")
            }
            handle.seekToEndOfFile()
            handle.write(Data(conf.utf8))
            handle.closeFile()
            // The postmaster inherits pg_ctl's output: discarded, or reading it would never end.
            let started = try await run(cluster.asServerUser([bin + "/pg_ctl", "-D", cluster.dataDirectory, "-l", cluster.logFile, "-w", "-t", "60", "start"]),
                                        directory: directory, collect: false)
            guard started.status == 0 else {
                let log = (try? String(contentsOfFile: cluster.logFile, encoding: .utf8)) ?? ""
                throw LocalPostgresError(code: .startFailed, message: "pg_ctl start failed (exit \(started.status)); the server log ends: \(log.suffix(1500))")
            }
        } catch {
            await cluster.destroy()
            throw error
        }
        return cluster
    }

    /// Stops the server (fast: sessions end, nothing is kept) and removes the directory.
    public func destroy() async {
        if FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") {
            _ = try? await Self.run(asServerUser([binDirectory + "/pg_ctl", "-D", dataDirectory, "-w", "-t", "30", "-m", "fast", "stop"]),
                                    directory: directory, collect: false)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The command that stops it, for `--keep`.
    public var stopCommand: String {
        (osUser.map { "runuser -u \($0) -- " } ?? "") + "\(binDirectory)/pg_ctl -D \(dataDirectory) stop && rm -rf \(directory)"
    }

    func asServerUser(_ command: [String]) -> [String] {
        guard let osUser else { return command }
        return ["/usr/sbin/runuser", "-u", osUser, "--"] + command
    }

    // MARK: the machine

    /// `PGBIN`, else the newest `/usr/lib/postgresql/N/bin` with an initdb.
    public static func findBinDirectory(environment: [String: String]? = nil) throws(LocalPostgresError) -> String {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let bin = environment["PGBIN"] {
            guard FileManager.default.isExecutableFile(atPath: bin + "/initdb") else {
                throw LocalPostgresError(code: .binariesMissing, message: "PGBIN is \(bin), which has no initdb: point it at the directory that holds initdb and pg_ctl")
            }
            return bin
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap { Int($0) }.sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw LocalPostgresError(code: .binariesMissing, message: "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: sudo apt-get install -y postgresql (or set PGBIN to the directory that holds them)")
    }

    /// Unix socket paths are limited to 107 bytes: keep the directory short.
    public static func makeShortTempDirectory() throws(LocalPostgresError) -> String {
        var template = Array("/tmp/pgr-XXXXXX".utf8CString)
        guard let pointer = mkdtemp(&template) else {
            throw LocalPostgresError(code: .temporaryDirectory, message: "cannot make a directory in /tmp (\(String(cString: strerror(errno)))): is /tmp writable?")
        }
        let path = String(cString: UnsafePointer(pointer))
        chmod(path, 0o755)
        return path
    }

    /// A TCP port nobody listens on now (the kernel's choice).
    public static func freePort() throws(LocalPostgresError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LocalPostgresError(code: .noFreePort, message: "cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw LocalPostgresError(code: .noFreePort, message: "cannot bind 127.0.0.1 to find a free port") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func run(_ command: [String], directory: String? = nil, collect: Bool = true) async throws(LocalPostgresError) -> (status: Int32, output: String) {
        do {
            let executable: Executable = command[0].contains("/") ? .path(FilePath(command[0])) : .name(command[0])
            let arguments = Arguments(Array(command.dropFirst()))
            let workingDirectory = directory.map { FilePath($0) }
            if collect {
                let result = try await Subprocess.run(executable, arguments: arguments, workingDirectory: workingDirectory,
                                                      output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
                return (Self.status(result.terminationStatus), result.standardOutput + result.standardError)
            }
            let result = try await Subprocess.run(executable, arguments: arguments, workingDirectory: workingDirectory,
                                                  output: .discarded, error: .discarded)
            return (Self.status(result.terminationStatus), "")
        } catch {
            throw LocalPostgresError(code: .commandFailed, message: "cannot run \(command[0]): \(error)")
        }
    }

    static func status(_ termination: TerminationStatus) -> Int32 {
        switch termination {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }
}

/// Why a throwaway cluster could not be had. None is worth retrying as is: each says what to fix.
public struct LocalPostgresError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case binariesMissing = "postgres_binaries_missing"
        case temporaryDirectory = "temporary_directory"
        case noFreePort = "no_free_port"
        case initdbFailed = "initdb_failed"
        case startFailed = "start_failed"
        case commandFailed = "command_failed"
    }

    public var code: Code
    public var message: String
    public var isRetryable: Bool { false }

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
