import Foundation
import PGReflexWire

/// `event show` for a person: the change, then each route's story, stage times in ms.
extension ChangeTrace {
    public var text: String {
        var lines: [String] = []
        lines.append("change \(id)  \(table.isEmpty ? "(message)" : table) \(op)\(key.map { "  key \($0)" } ?? "")")
        lines.append("  journal: segment \(place.segment) offset \(place.offset), LSN \(StatusReport.lsn(place.commitLSN)) #\(place.ordinal), "
            + "xid \(place.xid)\(place.schemaVersion.map { ", schema version \($0)" } ?? "")")
        lines.append("  committed \(Self.time(place.commitTime) ?? "-"), journaled \(Self.time(place.journaledAt) ?? "- (not recorded)")"
            + (Self.milliseconds(from: place.commitTime, to: place.journaledAt).map { " (+\(Self.ms($0)))" } ?? ""))
        lines.append("  envelope: " + String(decoding: envelope, as: UTF8.self).trimmingCharacters(in: .newlines))
        for route in routes {
            lines.append("")
            lines.append(contentsOf: route.textLines(journaledAt: place.journaledAt))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func ms(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return "\(rounded) ms"
    }
}

extension ChangeTrace.Route {
    func textLines(journaledAt: Int64) -> [String] {
        var lines = ["  route \(name) (agent \(agent)): \(state)"]
        switch matches {
        case true?: lines.append("    verdict: matches" + (condition.map { " (if: \($0))" } ?? ""))
        case false?: lines.append("    verdict: filtered: \(reason)" + (condition.map { " (if: \($0))" } ?? ""))
        case nil: lines.append("    verdict: - (the route is not in this configuration)")
        }
        for step in steps {
            lines.append("    \(step.kind)\(step.detail.isEmpty ? "" : " \(step.detail)") at \(ChangeTrace.time(step.at) ?? "-")")
        }
        for call in calls {
            lines.append("    call \(call.idempotencyKey)" + (call.events.count > 1 ? " (\(call.events.count) events: \(call.events.joined(separator: ", ")))" : ""))
            for attempt in call.attempts {
                lines.append("      attempt \(attempt.number): started \(ChangeTrace.time(attempt.startedAt) ?? "-"), "
                    + "\(ChangeTrace.ms(Double(attempt.micros) / 1000)), \(attempt.outcome)" + (attempt.error.map { ": \($0)" } ?? ""))
            }
            if let decision = call.decision { lines.append("      decision: \(decision)") }
            for action in call.actions {
                lines.append("      action \(action.index) \(action.tool) key \(action.idempotencyKey): \(action.status)"
                    + (action.result.map { " \($0)" } ?? ""))
            }
        }
        if let letter = deadLetter {
            lines.append("    dead letter \(letter.id) (\(letter.errorClass), \(letter.attempts) attempts): \(letter.message)")
        }
        let stages = [
            ("journaled → read", ChangeTrace.milliseconds(from: journaledAt, to: readAt)),
            ("read → call start", ChangeTrace.milliseconds(from: readAt, to: callStartedAt)),
            ("call start → outcome", ChangeTrace.milliseconds(from: callStartedAt, to: outcomeAt)),
        ].compactMap { name, value in value.map { "\(name) \(ChangeTrace.ms($0))" } }
        if !stages.isEmpty { lines.append("    stages: " + stages.joined(separator: ", ")) }
        return lines
    }
}
