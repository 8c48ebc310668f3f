import Foundation
import PGReflexConfig
import PGReflexTools

/// One field that differs between what a trace expects and what the configuration does now.
public struct TraceDifference: Sendable, Equatable {
    /// Dot-separated, list items by index: `routes.fraud_review.calls.0.decision.actions.0.args.reason`.
    public var path: String
    /// The recorded value as JSON; nil when the field was not there.
    public var expected: String?
    /// The value now as JSON; nil when the field is gone.
    public var actual: String?
    /// Why a number within a tolerance still failed, when one applies.
    public var note: String?
}

/// Compares two expected sides field by field, under the tolerances.
enum TraceComparison {
    static func differences(expected: [String: Any], actual: [String: Any], tolerances: [TraceTolerance]) -> [TraceDifference] {
        var found: [TraceDifference] = []
        compare(expected, actual, path: [], tolerances: tolerances, into: &found)
        return found
    }

    /// Walks both trees together. A part only one side has is one difference at its root (a
    /// call that is gone is one line, not one per field); leaves are compared under the
    /// tolerances.
    static func compare(_ old: Any?, _ new: Any?, path: [String], tolerances: [TraceTolerance], into found: inout [TraceDifference]) {
        let rules = tolerances.filter { $0.matches(path) }.map(\.rule)
        if rules.contains(.ignore) { return }
        let name = path.joined(separator: ".")
        switch (old, new) {
        case (let a as [String: Any], let b as [String: Any]) where !a.isEmpty || !b.isEmpty:
            for key in Set(a.keys).union(b.keys).sorted(by: keyOrder) {
                compare(a[key], b[key], path: path + [key], tolerances: tolerances, into: &found)
            }
            return
        case (var a as [Any], var b as [Any]) where !a.isEmpty || !b.isEmpty:
            if rules.contains(.unordered) {
                a.sort { TraceJSON.text($0) < TraceJSON.text($1) }
                b.sort { TraceJSON.text($0) < TraceJSON.text($1) }
            }
            for index in 0..<max(a.count, b.count) {
                compare(index < a.count ? a[index] : nil, index < b.count ? b[index] : nil, path: path + [String(index)], tolerances: tolerances, into: &found)
            }
            return
        default: break
        }
        if let range = rules.lazy.compactMap({ rule -> (Double, Double)? in if case .range(let l, let h) = rule { (l, h) } else { nil } }).first {
            if let value = new.flatMap(number), value >= range.0 && value <= range.1 { return }
            found.append(TraceDifference(path: name, expected: old.map(text), actual: new.map(text), note: "outside its range [\(format(range.0)), \(format(range.1))]"))
            return
        }
        if let distance = rules.lazy.compactMap({ rule -> Double? in if case .within(let d) = rule { d } else { nil } }).first,
           old.flatMap(number) != nil || new.flatMap(number) != nil {
            if let a = old.flatMap(number), let b = new.flatMap(number), abs(a - b) <= distance { return }
            found.append(TraceDifference(path: name, expected: old.map(text), actual: new.map(text), note: "more than \(format(distance)) apart"))
            return
        }
        let oldText = old.map(text), newText = new.map(text)
        if oldText != newText { found.append(TraceDifference(path: name, expected: oldText, actual: newText, note: nil)) }
    }

    /// What a reader looks at first comes first: the verdict before the calls, the outcome
    /// before the decision; other names alphabetically.
    static let leading = ["verdict", "flow", "calls", "agent", "events", "ordering_key", "idempotency_key", "outcome", "error", "prompt", "decision", "receipts"]

    static func keyOrder(_ a: String, _ b: String) -> Bool {
        switch (leading.firstIndex(of: a), leading.firstIndex(of: b)) {
        case (let i?, let j?): i < j
        case (.some, nil): true
        case (nil, .some): false
        case (nil, nil): a < b
        }
    }

    /// A value as JSON, cut short when it is a long subtree (a whole call).
    static func text(_ value: Any) -> String {
        let whole = TraceJSON.text(value)
        guard whole.utf8.count > 4000, !(value is String) else { return whole }
        return String(whole.prefix(4000)) + "…"
    }

    static func number(_ value: Any) -> Double? {
        guard let number = value as? NSNumber, !ToolParameter.isBool(number) else { return nil }
        return number.doubleValue
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
