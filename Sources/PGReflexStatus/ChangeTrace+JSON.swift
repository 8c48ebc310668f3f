import Foundation
import PGReflexWire

/// `event show --format json`: one object per change, its envelope, decisions and receipts as
/// JSON values, times in RFC 3339 (UTC, microseconds), and each stage's duration in ms.
extension ChangeTrace {
    public var jsonObject: [String: Any] {
        var journal: [String: Any] = [
            "segment": place.segment, "offset": place.offset, "lsn": StatusReport.lsn(place.commitLSN), "ordinal": place.ordinal,
            "xid": place.xid, "commit_time": ChangeTrace.orNull(Self.time(place.commitTime)), "journaled_at": ChangeTrace.orNull(Self.time(place.journaledAt)),
        ]
        journal["schema_version"] = ChangeTrace.orNull(place.schemaVersion)
        return [
            "id": id, "table": table, "op": op, "key": ChangeTrace.orNull(key.flatMap(Self.json)), "journal": journal,
            "envelope": ChangeTrace.orNull(Self.json(envelope)),
            "stages": ["commit_to_journaled_ms": ChangeTrace.orNull(Self.milliseconds(from: place.commitTime, to: place.journaledAt))],
            "routes": routes.map { route in route.jsonObject(journaledAt: place.journaledAt) },
        ]
    }

    public var json: String {
        let data = (try? JSONSerialization.data(withJSONObject: jsonObject, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// A value, or JSON's null.
    static func orNull(_ value: Any?) -> Any { value ?? NSNull() }

    static func time(_ micros: Int64) -> String? {
        micros > 0 ? PostgresTimestamp(unixMicroseconds: micros).iso8601 : nil
    }

    static func milliseconds(from start: Int64?, to end: Int64?) -> Double? {
        guard let start, let end, start > 0, end > 0 else { return nil }
        return Double(end - start) / 1000
    }

    static func json(_ text: String) -> Any? { json(Array(text.utf8)) }

    static func json(_ bytes: [UInt8]) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }
}

extension ChangeTrace.Route {
    func jsonObject(journaledAt: Int64) -> [String: Any] {
        var object: [String: Any] = [
            "route": name, "agent": agent, "matches": ChangeTrace.orNull(matches), "reason": reason, "condition": ChangeTrace.orNull(condition), "state": state,
            "steps": steps.map { ["kind": $0.kind, "detail": $0.detail, "at": ChangeTrace.orNull(ChangeTrace.time($0.at))] as [String: Any] },
            "calls": calls.map(\.jsonObject),
            "stages": [
                "read_at": ChangeTrace.orNull(readAt.flatMap(ChangeTrace.time)), "call_started_at": ChangeTrace.orNull(callStartedAt.flatMap(ChangeTrace.time)),
                "outcome_at": ChangeTrace.orNull(outcomeAt.flatMap(ChangeTrace.time)),
                "journaled_to_read_ms": ChangeTrace.orNull(ChangeTrace.milliseconds(from: journaledAt, to: readAt)),
                "read_to_call_ms": ChangeTrace.orNull(ChangeTrace.milliseconds(from: readAt, to: callStartedAt)),
                "call_to_outcome_ms": ChangeTrace.orNull(ChangeTrace.milliseconds(from: callStartedAt, to: outcomeAt)),
            ] as [String: Any],
        ]
        object["dead_letter"] = deadLetter.map {
            ["id": $0.id, "error_class": $0.errorClass, "message": $0.message, "attempts": $0.attempts] as [String: Any]
        } ?? NSNull()
        return object
    }
}

extension ChangeTrace.Call {
    var jsonObject: [String: Any] {
        [
            "idempotency_key": idempotencyKey, "events": events,
            "attempts": attempts.map { attempt -> [String: Any] in
                ["attempt": attempt.number, "read_at": ChangeTrace.orNull(ChangeTrace.time(attempt.readAt)),
                 "started_at": ChangeTrace.orNull(ChangeTrace.time(attempt.startedAt)), "duration_ms": Double(attempt.micros) / 1000,
                 "outcome": attempt.outcome, "error": ChangeTrace.orNull(attempt.error)]
            },
            "decision": ChangeTrace.orNull(decision.flatMap(ChangeTrace.json)),
            "actions": actions.map { action -> [String: Any] in
                ["index": action.index, "tool": action.tool, "idempotency_key": action.idempotencyKey, "status": action.status,
                 "result": ChangeTrace.orNull(action.result.flatMap(ChangeTrace.json))]
            },
        ]
    }
}
