import Foundation
import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexEnvelope
import PGReflexFiles
import PGReflexJournal
import PGReflexTestSupport
import PGReflexTransport
import PGReflexWire
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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
func runTail(_ options: CapturePipeline.Options) async throws -> (lines: [TailLine], summary: CapturePipeline.Summary) {
    let path = NSTemporaryDirectory() + "pgreflex-tail-\(UUID().uuidString).jsonl"
    let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
    #expect(fd >= 0)
    defer {
        close(fd)
        unlink(path)
    }
    let summary = try await CapturePipeline(options: options, logger: testLogger).run(output: FileDescriptorWriter(fd: fd))
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

/// A Python with the `jsonschema` package, to validate events against the registry's JSON
/// Schemas with a validator that is not ours. Uses the machine's python3 when it has the package,
/// else a venv under .build that it creates once (pip, from PyPI).
func jsonSchemaPython() throws -> String {
    if PostgresCluster.run(["python3", "-c", "import jsonschema"]).status == 0 { return "python3" }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let venv = root.appendingPathComponent(".build/jsonschema-venv").path
    let python = venv + "/bin/python"
    if PostgresCluster.run([python, "-c", "import jsonschema"]).status == 0 { return python }
    let made = PostgresCluster.run(["python3", "-m", "venv", venv])
    guard made.status == 0 else { throw PostgresCluster.Failure(description: "python3 -m venv failed: \(made.output)") }
    let installed = PostgresCluster.run([python, "-m", "pip", "install", "-q", "jsonschema"])
    guard installed.status == 0 else {
        throw PostgresCluster.Failure(description: "pip install jsonschema failed (install it: pip install jsonschema): \(installed.output)")
    }
    return python
}

/// Validates each event line against `registry/<schema.table>/v<source.schema_version>.json`
/// with Python's jsonschema (draft 2020-12); returns the failures, one line each.
func validateAgainstRegistry(_ lines: [TailLine], registry: String) throws -> [String] {
    let events = NSTemporaryDirectory() + "pgreflex-validate-\(UUID().uuidString).jsonl"
    defer { unlink(events) }
    try lines.map(\.raw).joined(separator: "\n").write(toFile: events, atomically: true, encoding: .utf8)
    let script = """
        import json, sys
        from jsonschema import Draft202012Validator
        registry, path = sys.argv[1], sys.argv[2]
        cache, count = {}, 0
        for n, line in enumerate(open(path), 1):
            event = json.loads(line)
            source = event["source"]
            name = "%s/%s.%s/v%d.json" % (registry, source["schema"], source["table"], source["schema_version"])
            if name not in cache:
                schema = json.load(open(name))
                Draft202012Validator.check_schema(schema)
                cache[name] = Draft202012Validator(schema)
            for error in cache[name].iter_errors(event):
                print("event %d (%s %s): %s at %s" % (n, source["table"], event["op"], error.message[:200], "/".join(map(str, error.absolute_path))))
            count += 1
        print("validated %d events" % count, file=sys.stderr)
        """
    let result = PostgresCluster.run([try jsonSchemaPython(), "-c", script, registry, events])
    guard result.output.contains("validated \(lines.count) events") else {
        throw PostgresCluster.Failure(description: "the validator did not run: \(result.output)")
    }
    return result.output.split(separator: "\n").filter { $0.hasPrefix("event ") }.map(String.init)
}

/// Every record of the journal carries metadata that says what its envelope says: table, op,
/// schema version, xid, commit time, and the hash of the key as written. Returns the count.
@discardableResult
func expectMetadataMatchesEnvelopes(journal directory: String) throws -> Int {
    let journal = try Journal(options: .init(directory: directory, readOnly: true), logger: testLogger)
    var count = 0
    try journal.read { record in
        count += 1
        guard let metadata = record.metadata else {
            Issue.record("record \(record.position) has no metadata")
            return
        }
        let line = TailLine(json: try JSONSerialization.jsonObject(with: Data(record.envelope)) as! [String: Any],
                            raw: String(decoding: record.envelope, as: UTF8.self))
        #expect(metadata.table == "\(line.source["schema"] as? String ?? "").\(line.table ?? "")")
        #expect(metadata.operation == line.op.utf8.first)
        #expect(metadata.schemaVersion == line.source["schema_version"] as? Int)
        #expect(Int(metadata.xid) == line.xid)
        #expect(metadata.commitTime == Int64(line.source["ts_us"] as? Int ?? -1))
        let key = record.envelope.lastRange(of: Array(",\"key\":".utf8)).map { record.envelope[$0.upperBound..<(record.envelope.endIndex - 2)] }
        #expect(metadata.keyHash == JournalRecord.Metadata.keyHash(try #require(key)))
    }
    return count
}

/// One GET to 127.0.0.1 on a connection of its own, as a scraper makes it; a refused or dropped
/// connection is tried again twice.
func httpGet(_ port: Int, _ path: String) async throws -> (status: Int, body: String) {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    request.setValue("close", forHTTPHeaderField: "Connection")
    for attempt in 1... {
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        } catch where attempt < 3 {
            try await Task.sleep(for: .milliseconds(200))
        }
    }
    fatalError("unreachable")
}
