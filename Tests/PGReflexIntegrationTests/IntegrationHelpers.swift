import Foundation
import Logging
import PGReflexCore
import PGReflexTestSupport
import PGReflexTransport
import PGReflexWire
import Testing

/// A decoded line of `pgreflex tail` output.
struct TailLine {
    let json: [String: Any]
    /// The line as printed, for checks of field order.
    var raw: String = ""
    var op: String { json["op"] as! String }
    var source: [String: Any] { json["source"] as! [String: Any] }
    var transaction: [String: Any]? { json["transaction"] as? [String: Any] }
    var table: String? { source["table"] as? String }
    var lsn: LSN { LSN(UInt64(source["lsn"] as! Int)) }
    var after: [String: Any]? { json["after"] as? [String: Any] }
    var before: [String: Any]? { json["before"] as? [String: Any] }
    var key: [String: Any]? { json["key"] as? [String: Any] }
    var xid: Int? { source["txId"] as? Int }
    var id: String { json["id"] as! String }
    /// Position in the transaction, from 0.
    var ordinal: Int? { (transaction?["total_order"] as? Int).map { $0 - 1 } }
    /// The commit LSN, from the transaction id `xid:lsn`.
    var commitLSN: LSN? {
        (transaction?["id"] as? String).flatMap { $0.split(separator: ":").last }.flatMap { UInt64($0) }.map { LSN($0) }
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "pgreflex.test")
    logger.logLevel = .warning
    return logger
}()

extension PostgresCluster {
    func currentInsertLSN() throws -> LSN {
        LSN(try psql("SELECT pg_current_wal_insert_lsn()"))!
    }

    /// The SQL decoding functions stop at the flushed WAL; with synchronous_commit = off the
    /// last commits may not be flushed yet.
    func waitForFlush(_ lsn: LSN) throws {
        try psql("DO $$ BEGIN WHILE pg_current_wal_flush_lsn() < '\(lsn)' LOOP PERFORM pg_sleep(0.01); END LOOP; END $$")
    }

    func createSlot(_ name: String) throws {
        try psql("SELECT pg_create_logical_replication_slot('\(name)', 'pgoutput')")
    }

    /// The LSNs of row changes and messages as PostgreSQL's test_decoding sees them, from a
    /// copy of `slot` (the original is left untouched).
    func testDecodingLSNs(copying slot: String, upTo end: LSN) throws -> [(lsn: LSN, data: String)] {
        let copy = slot + "_td"
        try waitForFlush(end)
        try psql("SELECT pg_copy_logical_replication_slot('\(slot)', '\(copy)', false, 'test_decoding')")
        defer { _ = try? psql("SELECT pg_drop_replication_slot('\(copy)')") }
        let out = try psql("SELECT lsn || E'\\t' || replace(data, E'\\n', ' ') FROM pg_logical_slot_peek_changes('\(copy)', '\(end)', NULL)")
        return out.split(separator: "\n", omittingEmptySubsequences: true).compactMap { line in
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, let lsn = LSN(String(parts[0])) else {
                Issue.record("unparsed test_decoding line: \(line.prefix(120))")
                return nil
            }
            return (lsn, String(parts[1]))
        }
    }

    /// How many row changes test_decoding decodes from a copy of `slot`, counted by the server.
    func testDecodingRowChanges(copying slot: String, upTo end: LSN) throws -> Int {
        let copy = slot + "_count"
        try waitForFlush(end)
        try psql("SELECT pg_copy_logical_replication_slot('\(slot)', '\(copy)', false, 'test_decoding')")
        defer { _ = try? psql("SELECT pg_drop_replication_slot('\(copy)')") }
        return Int(try psql("SELECT count(*) FROM pg_logical_slot_peek_changes('\(copy)', '\(end)', NULL) WHERE data LIKE 'table %'"))!
    }
}

/// Runs the tail pipeline in-process into a temp file and returns the parsed lines.
func runTail(_ options: TailPipeline.Options) async throws -> (lines: [TailLine], summary: TailPipeline.Summary) {
    let path = NSTemporaryDirectory() + "pgreflex-tail-\(UUID().uuidString).jsonl"
    let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
    #expect(fd >= 0)
    defer {
        close(fd)
        unlink(path)
    }
    let summary = try await TailPipeline(options: options, logger: testLogger).run(output: FileDescriptorWriter(fd: fd))
    return (try parseLines(Data(contentsOf: URL(fileURLWithPath: path))), summary)
}

func parseLines(_ data: Data) throws -> [TailLine] {
    try data.split(separator: UInt8(ascii: "\n")).map { line in
        TailLine(json: try JSONSerialization.jsonObject(with: Data(line)) as! [String: Any], raw: String(decoding: line, as: UTF8.self))
    }
}

/// Runs the `pgreflex tail` executable against the cluster with these flags (after --dsn), its
/// stdout in a temp file; returns its exit status and log, and the lines it printed.
func tailExecutable(_ cluster: PostgresCluster, _ flags: [String]) throws -> (result: PostgresCluster.RunResult, lines: [TailLine]) {
    let out = NSTemporaryDirectory() + "pgreflex-tail-\(UUID().uuidString).jsonl"
    defer { unlink(out) }
    let result = PostgresCluster.run([try pgreflexExecutable(), "tail", "--dsn", cluster.conninfo] + flags, standardOutput: out)
    let data = FileManager.default.contents(atPath: out) ?? Data()
    return (result, try parseLines(data))
}

/// The built `pgreflex` executable, next to the test bundle.
func pgreflexExecutable() throws -> String {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for candidate in [bundle.deletingLastPathComponent(), bundle.deletingLastPathComponent().deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("pgreflex").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    let fallback = FileManager.default.currentDirectoryPath + "/.build/debug/pgreflex"
    if FileManager.default.isExecutableFile(atPath: fallback) { return fallback }
    throw PostgresCluster.Failure(description: "pgreflex executable not found near \(bundle.path); run swift build first")
}
