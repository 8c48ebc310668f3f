import Foundation
import PGReflexFiles
import PGReflexJournal
public import PGReflexRouter
public import PGReflexWire

/// Where `trace record` takes its events from: the journal (a range of LSNs, some tables),
/// events by id, or a file of envelopes written by hand.
extension TraceEvent {
    /// The journal's data records from `from` through `to` (commit LSNs), of `tables` (all when
    /// empty), in order; at most `limit`.
    public static func fromJournal(directory: String, from: LSN?, to: LSN?, tables: [TablePattern], limit: Int) throws -> [TraceEvent] {
        var found: [TraceEvent] = []
        let start = from.map { EventPosition(commitLSN: $0, ordinal: 0) }
        let end = to.map { EventPosition(commitLSN: $0, ordinal: Int(UInt32.max)) }
        try Journal.locate(directory: directory, from: start, to: end) { record, _, _ in
            guard found.count < limit, let event = TraceEvent(record), tables.isEmpty || tables.contains(where: { $0.matches(event.table) }) else { return }
            found.append(event)
        }
        return found
    }

    /// The events with these ids that the journal still holds, by id (lowercased).
    public static func fromJournal(directory: String, ids: [String]) throws -> [String: TraceEvent] {
        var found: [String: TraceEvent] = [:]
        for id in ids {
            guard let position = EventPosition(eventID: id.lowercased()) else {
                throw TraceError(.noEvents, "--event \(id): not an event id (it looks like 0000000001A2B3C8-00000003, as envelopes, `results list` and `dlq list` write it)")
            }
            try Journal.locate(directory: directory, from: position, to: position) { record, _, _ in
                if let event = TraceEvent(record) { found[id.lowercased()] = event }
            }
        }
        return found
    }

    /// A journal record as a trace event; nil for a record with no table or operation (a
    /// transaction's BEGIN or END marker).
    init?(_ record: JournalRecord) {
        guard let metadata = record.resolvedMetadata, metadata.operation != 0 else { return nil }
        let op = String(UnicodeScalar(metadata.operation))
        guard Route.operations.contains(op) else { return nil }
        // The journal keeps an envelope as a sink writes it, with its newline: a trace keeps the JSON.
        var envelope = record.envelope[...]
        while let last = envelope.last, last == 0x0A || last == 0x0D || last == 0x20 { envelope.removeLast() }
        self.init(id: EventID.string(lsn: record.position.commitLSN.rawValue, ordinal: record.position.ordinal), table: metadata.table,
                  op: op, commitTime: metadata.commitTime, schemaVersion: metadata.schemaVersion, keyHash: metadata.keyHash, envelope: Array(envelope))
    }

    /// Envelopes written by hand (or copied from a sink file): one JSON object per line, each
    /// with `op` and `source.schema` and `source.table` (a message, `op: m`, has no table). The id is
    /// the envelope's `id`, or `line-N`; the commit time its `source.ts_us` (or `ts_ms`).
    public static func fromFile(path: String) throws(TraceError) -> [TraceEvent] {
        let data: [UInt8]
        switch BoundedFile.bytes(path, limit: GoldenTrace.fileLimit) {
        case .success(let bytes): data = bytes
        case .failure(let failure): throw TraceError(.unreadable, "--events \(path) \(failure.message)")
        }
        var events: [TraceEvent] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            func fail(_ what: String) -> TraceError {
                TraceError(.malformed, "--events \(path):\(index + 1): \(what)")
            }
            guard line.count <= GoldenTrace.lineLimit, let object = TraceJSON.parse(line) as? [String: Any] else {
                throw fail("not a JSON object (one envelope per line)")
            }
            var envelope = Array(line)
            while let last = envelope.last, last == 0x0D || last == 0x20 || last == 0x09 { envelope.removeLast() }
            switch Self.parse(object, envelope: envelope, defaultID: "line-\(index + 1)") {
            case .success(let event): events.append(event)
            case .failure(let problem): throw fail(problem.message)
            }
        }
        guard !events.isEmpty else { throw TraceError(.noEvents, "--events \(path): the file holds no envelope") }
        return events
    }

    struct Problem: Error {
        var message: String
    }

    /// An envelope as a trace event: its `op`, `source.schema` and `source.table` (a message,
    /// `op: m`, has no table), its `id` (else `defaultID`), and its commit time from
    /// `source.ts_us` (or `ts_ms`).
    static func parse(_ object: [String: Any], envelope: [UInt8], defaultID: String) -> Result<TraceEvent, Problem> {
        guard let op = object["op"] as? String, Route.operations.contains(op) else {
            return .failure(Problem(message: "op must be one of \(Route.operations.sorted().joined(separator: ", "))"))
        }
        let source = object["source"] as? [String: Any]
        let table: String
        if let schema = source?["schema"] as? String, let name = source?["table"] as? String {
            table = "\(schema).\(name)"
        } else if op == "m" {
            table = ""
        } else {
            return .failure(Problem(message: "source.schema and source.table are missing: is it a pgreflex envelope?"))
        }
        let micros = (source?["ts_us"] as? NSNumber)?.int64Value ?? ((source?["ts_ms"] as? NSNumber)?.int64Value).map { $0.multipliedReportingOverflow(by: 1000).partialValue } ?? 0
        return .success(TraceEvent(id: object["id"] as? String ?? defaultID, table: table, op: op, commitTime: micros,
                                   schemaVersion: source?["schema_version"] as? Int, envelope: envelope))
    }

    /// A dead letter's envelope (the state store keeps it after the journal's retention let it go).
    public static func fromDeadLetter(eventID: String, envelope: [UInt8]) -> TraceEvent? {
        guard let object = TraceJSON.parse(envelope) as? [String: Any], case .success(var event) = parse(object, envelope: envelope, defaultID: eventID) else { return nil }
        event.id = eventID
        return event
    }
}
