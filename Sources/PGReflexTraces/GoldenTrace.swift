import Foundation
import PGReflexFiles
public import PGReflexConfig

/// A golden trace file: JSON lines. The first line is the header (`pgreflex_trace`, when and
/// from what it was recorded, and its tolerances); each further line is one event with what it
/// led to (`expected`) and what its calls were told (`recorded`: the model's replies and the
/// read tools' rows), so that it replays with no model, no network and no database.
public struct GoldenTrace: Sendable {
    public static let formatVersion = 1
    /// A line longer than this is not read (a trace is written by pgreflex; this bounds a
    /// hand-edited or hostile one).
    public static let lineLimit = 16 << 20
    /// A trace file, or a file of envelopes, larger than this is not read: canonical events are
    /// tens, not millions.
    public static let fileLimit = 256 << 20

    public struct Header: Sendable {
        public var recordedAt: String
        public var config: String
        public var tolerances: [TraceTolerance]

        public init(recordedAt: String, config: String, tolerances: [TraceTolerance] = []) {
            self.recordedAt = recordedAt
            self.config = config
            self.tolerances = tolerances
        }
    }

    public var header: Header
    public var entries: [TraceEntry]

    public init(header: Header, entries: [TraceEntry]) {
        self.header = header
        self.entries = entries
    }

    /// Reads a trace; the error names the file, the line and the fix.
    public static func read(path: String) throws(TraceError) -> GoldenTrace {
        let data: [UInt8]
        switch BoundedFile.bytes(path, limit: fileLimit) {
        case .success(let bytes): data = bytes
        case .failure(let failure):
            throw TraceError(.unreadable, "\(path) \(failure.message) (trace verify takes trace files or directories of them)")
        }
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .enumerated().filter { !$0.element.allSatisfy { $0 == 0x20 || $0 == 0x0D || $0 == 0x09 } }
        guard let first = lines.first else {
            throw TraceError(.malformed, "\(path): the file is empty: record it with `pgreflex trace record`")
        }
        let header = try Self.header(Array(first.element), path: path, line: first.offset + 1)
        var entries: [TraceEntry] = []
        for (index, line) in lines.dropFirst() {
            entries.append(try TraceEntry(line: Array(line), path: path, line: index + 1))
        }
        return GoldenTrace(header: header, entries: entries)
    }

    static func header(_ line: [UInt8], path: String, line number: Int) throws(TraceError) -> Header {
        guard line.count <= lineLimit, let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
              let version = object["pgreflex_trace"] as? Int else {
            throw TraceError(.malformed, "\(path):\(number): the first line is not a trace header ({\"pgreflex_trace\": 1, …}): record the file with `pgreflex trace record`")
        }
        guard version == formatVersion else {
            throw TraceError(.malformed, "\(path):\(number): trace format \(version) is not one this pgreflex reads (\(formatVersion)): re-record it with `pgreflex trace update`")
        }
        var tolerances: [TraceTolerance] = []
        if let list = object["tolerances"] {
            guard let items = list as? [Any] else {
                throw TraceError(.malformed, "\(path):\(number): tolerances must be a list of {path, ignore | within | range | unordered}")
            }
            for item in items {
                do {
                    tolerances.append(try TraceTolerance(json: item))
                } catch {
                    throw TraceError(.malformed, "\(path):\(number): tolerances: \(error.message)")
                }
            }
        }
        return Header(recordedAt: object["recorded_at"] as? String ?? "", config: object["config"] as? String ?? "", tolerances: tolerances)
    }

    /// The file's bytes: the header, then one line per event.
    public func encoded() -> [UInt8] {
        var header: [String: Any] = ["pgreflex_trace": Self.formatVersion, "recorded_at": self.header.recordedAt, "config": self.header.config]
        if !self.header.tolerances.isEmpty { header["tolerances"] = self.header.tolerances.map(\.json) }
        var bytes = TraceJSON.encode(header)
        bytes.append(UInt8(ascii: "\n"))
        for entry in entries {
            bytes += entry.encoded()
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    /// Writes the file whole, through a temporary file renamed over it: a failed write leaves
    /// the old file as it was, and no stray file.
    public func write(path: String) throws(TraceError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw TraceError(.unwritable, "\(path): cannot create \(directory) (\(error.localizedDescription)): check the path and its permissions")
            }
        }
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(encoded())) else {
            throw TraceError(.unwritable, "\(path): cannot write the file: check the directory's permissions")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw TraceError(.unwritable, "\(path): cannot replace the file: check the directory's permissions")
        }
    }
}

/// One event of a trace: the event as journaled, what it led to, and what its calls were told.
public struct TraceEntry: @unchecked Sendable {
    // @unchecked: `expected` and `recorded` hold only JSONSerialization's value types (strings,
    // numbers, NSNull, arrays and dictionaries of them), never mutated once built.
    public var event: TraceEvent
    /// `{"routes": {name: {verdict, flow, calls}}}`: what is compared.
    public var expected: [String: Any]
    /// By call key: `{"replies": […], "reads": […]}`: what replays the calls.
    public var recorded: [String: Any]

    public init(event: TraceEvent, expected: [String: Any], recorded: [String: Any]) {
        self.event = event
        self.expected = expected
        self.recorded = recorded
    }

    init(line: [UInt8], path: String, line number: Int) throws(TraceError) {
        func fail(_ what: String) -> TraceError {
            TraceError(.malformed, "\(path):\(number): \(what): re-record the file with `pgreflex trace update`, or mend the line")
        }
        guard line.count <= GoldenTrace.lineLimit, let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        guard let meta = object["event"] as? [String: Any], let id = meta["id"] as? String, let table = meta["table"] as? String,
              let op = meta["op"] as? String else { throw fail("event needs id, table and op") }
        guard object["envelope"] is [String: Any], let span = JSONSpan.value(named: "envelope", in: line) else {
            throw fail("envelope must be the event's JSON object")
        }
        event = TraceEvent(id: id, table: table, op: op, commitTime: (meta["commit_time"] as? NSNumber)?.int64Value ?? 0,
                           schemaVersion: meta["schema_version"] as? Int, keyHash: (meta["key_hash"] as? String).flatMap { UInt64($0, radix: 16) } ?? 0,
                           envelope: Array(line[span]))
        expected = object["expected"] as? [String: Any] ?? [:]
        recorded = object["recorded"] as? [String: Any] ?? [:]
    }

    /// One line: the envelope exactly as it was journaled (its bytes, not a re-encoding, so the
    /// agents see the same text on every replay), the rest with sorted keys.
    func encoded() -> [UInt8] {
        var meta: [String: Any] = ["id": event.id, "table": event.table, "op": event.op, "commit_time": event.commitTime]
        if let version = event.schemaVersion { meta["schema_version"] = version }
        if event.keyHash != 0 { meta["key_hash"] = String(event.keyHash, radix: 16) }
        var bytes = Array(#"{"event":"#.utf8) + TraceJSON.encode(meta)
        bytes += Array(#","expected":"#.utf8) + TraceJSON.encode(expected)
        bytes += Array(#","recorded":"#.utf8) + TraceJSON.encode(recorded)
        bytes += Array(#","envelope":"#.utf8) + event.envelope + [UInt8(ascii: "}")]
        return bytes
    }
}

/// An event as a trace keeps it.
public struct TraceEvent: Sendable, Equatable {
    public var id: String
    public var table: String
    public var op: String
    /// Unix microseconds: the clock of the route's debounce and windows in a trace.
    public var commitTime: Int64
    public var schemaVersion: Int?
    public var keyHash: UInt64
    public var envelope: [UInt8]

    public init(id: String, table: String, op: String, commitTime: Int64, schemaVersion: Int? = nil, keyHash: UInt64 = 0, envelope: [UInt8]) {
        self.id = id
        self.table = table
        self.op = op
        self.commitTime = commitTime
        self.schemaVersion = schemaVersion
        self.keyHash = keyHash
        self.envelope = envelope
    }
}

/// JSON as traces write it: sorted keys, no escaped slashes, so that a diff of two recordings
/// shows only what changed.
enum TraceJSON {
    static func encode(_ value: Any) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])) ?? Data("null".utf8))
    }

    static func text(_ value: Any) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }

    static func parse(_ bytes: some Collection<UInt8>) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }
}

/// Where a top-level member's value lies in a JSON object's bytes. Only for text that already
/// parsed as JSON: one pass, linear, no recursion.
enum JSONSpan {
    static func value(named name: String, in bytes: [UInt8]) -> Range<Int>? {
        var index = 0
        var depth = 0
        var keyStart: Int?
        var lastKey: ArraySlice<UInt8> = []
        var valueStart: Int?
        let wanted = Array(name.utf8)
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                while index < bytes.count && bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                if depth == 1 && valueStart == nil { keyStart = start; lastKey = bytes[(start + 1)..<min(index, bytes.count)] }
            case UInt8(ascii: ":") where depth == 1:
                if keyStart != nil, lastKey.elementsEqual(wanted) {
                    var start = index + 1
                    while start < bytes.count, bytes[start] == 0x20 || bytes[start] == 0x0A || bytes[start] == 0x0D || bytes[start] == 0x09 { start += 1 }
                    valueStart = start
                }
                keyStart = nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 1, let start = valueStart { return start..<(index + 1) }
                if depth == 0, let start = valueStart { return start..<index }
            case UInt8(ascii: ",") where depth == 1:
                if let start = valueStart { return start..<index }
            default: break
            }
            index += 1
        }
        return nil
    }
}
