import Foundation
import GRDB
@testable import PGReflexState
import PGReflexTestSupport
import PGReflexWire
import Testing

#if canImport(Glibc)
import Glibc
#endif
/// One test's corner of the suite's cluster: a schema of its own, a slot and a publication on
/// it, and a directory holding the configuration, the journal, the state store and the agents'
/// files. Runs the `pgreflex` executable.
struct RouteFixture {
    let cluster: PostgresCluster
    let name: String
    let dir: String
    let exe: String

    init(_ name: String, tables: String) throws {
        cluster = try PostgresCluster.required()
        self.name = name
        dir = NSTemporaryDirectory() + "pgreflex-route-\(name)-\(UUID().uuidString)"
        exe = try pgreflexExecutable()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        do {
            try cluster.psql("CREATE SCHEMA \(name); SET search_path = \(name);\n\(tables)\nCREATE PUBLICATION \(name)_pub FOR TABLES IN SCHEMA \(name);")
            try cluster.createSlot("\(name)_slot")
        } catch {
            // A fixture that failed to set up leaves no directory behind (its test never got to remove it).
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func sql(_ text: String) throws {
        _ = try cluster.psql("SET search_path = \(name);\n" + text)
    }

    /// Writes run.yaml: the source and journal, then `rest` (agents, routes).
    func configure(_ rest: String) throws {
        try """
            source: { dsn: "\(cluster.conninfo)", slot: \(name)_slot, publication: \(name)_pub }
            journal: { directory: ./journal }
            \(rest)
            """.write(toFile: dir + "/run.yaml", atomically: true, encoding: .utf8)
    }

    var config: String { dir + "/run.yaml" }

    /// `pgreflex run` until everything committed so far is handled.
    /// `environment` adds to this process's, for the child only: `setenv` would race with other
    /// threads spawning.
    func runToEnd(_ flags: [String] = [], environment: [String: String] = [:]) throws -> PostgresCluster.RunResult {
        let end = try cluster.currentInsertLSN()
        return PostgresCluster.run([exe, "run", "--config", config, "--end-lsn", end.description] + flags,
                                   environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    /// `runToEnd` for async tests: the wait does not hold a thread of the cooperative pool
    /// (a model's answer can take seconds, and other suites' servers need those threads).
    func runToEndWithoutBlocking(_ flags: [String] = []) async throws -> PostgresCluster.RunResult {
        let end = try cluster.currentInsertLSN()
        let log = dir + "/run-\(UUID().uuidString).log"
        let status = try await runWithoutBlocking([exe, "run", "--config", config, "--end-lsn", end.description] + flags, log: log)
        return PostgresCluster.RunResult(status: status, output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    func command(_ arguments: [String], environment: [String: String] = [:]) -> PostgresCluster.RunResult {
        PostgresCluster.run([exe] + arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    func lines(_ file: String) throws -> [TailLine] {
        guard let data = FileManager.default.contents(atPath: dir + "/" + file) else { return [] }
        return try parseLines(data)
    }

    /// The `route stopped` line's fields for a route (the last one in `log`).
    static func stopped(_ route: String, in log: String) -> [String: String] {
        LogLines.last(in: log, message: "route stopped", matching: ["route": route]) ?? [:]
    }

    /// `route status` as route → column → value.
    /// Polls the run's status file (`state/status.json`, rewritten each second) until
    /// `condition` holds on it, for at most `seconds`.
    func waitForStatusFile(_ seconds: Double, _ condition: ([String: Any]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: dir + "/state/status.json"),
               let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any], condition(report) { return true }
            usleep(100_000)
        }
        return false
    }

    /// Returns once the server's clock has passed what it reads now plus `seconds`: for tests
    /// whose events must be that much older by commit time.
    func waitForServerClock(pastSecondsFromNow seconds: Double) {
        let target = (try? cluster.psql("SELECT extract(epoch FROM clock_timestamp()) + \(seconds)")).flatMap { Double($0) } ?? 0
        let deadline = Date().addingTimeInterval(seconds + 30)
        while Date() < deadline, ((try? cluster.psql("SELECT extract(epoch FROM clock_timestamp())")).flatMap { Double($0) } ?? .infinity) < target {
            usleep(50_000)
        }
    }

    func status() -> [String: [String: String]] {
        let result = command(["route", "status", "--config", config])
        let rows = result.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        guard let header = rows.first, header.first == "route" else { return [:] }
        var table: [String: [String: String]] = [:]
        for row in rows.dropFirst() where row.count == header.count {
            table[row[0]] = Dictionary(uniqueKeysWithValues: zip(header, row))
        }
        return table
    }
}
