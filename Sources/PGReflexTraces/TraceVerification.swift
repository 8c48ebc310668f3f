import Foundation
public import PGReflexConfig

/// One trace file run again through the current configuration: per event, what differs from
/// what it expects, and the trace as it would be re-recorded (`trace update`).
public struct TraceVerification: Sendable {
    public struct EventResult: Sendable {
        public var id: String
        public var table: String
        public var op: String
        public var differences: [TraceDifference]
    }

    public var file: String
    public var events: [EventResult]
    /// The file with this run's expected side (and, when live, its inputs).
    public var updated: GoldenTrace

    public var differing: Int { events.filter { !$0.differences.isEmpty }.count }
    public var passed: Bool { differing == 0 }
}

extension TraceRunner {
    /// Runs the trace at `path` again: offline (the recorded replies and rows) unless `live`.
    /// `tolerances` (the configuration's) add to the file's own.
    public func verify(path: String, live: Bool, tolerances: [TraceTolerance] = []) async throws -> TraceVerification {
        let trace = try GoldenTrace.read(path: path)
        let now = try await run(trace.entries.map(\.event), inputs: live ? .live : .recorded(trace.entries))
        let rules = trace.header.tolerances + tolerances
        var results: [TraceVerification.EventResult] = []
        for (old, new) in zip(trace.entries, now) {
            results.append(.init(id: old.event.id, table: old.event.table, op: old.event.op,
                                 differences: TraceComparison.differences(expected: old.expected, actual: new.expected, tolerances: rules)))
        }
        var updated = trace
        updated.entries = now
        return TraceVerification(file: path, events: results, updated: updated)
    }
}

/// `trace verify`'s report: text for people, JSON for tools, JUnit XML for CI systems.
public struct TraceReport: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case text, json, junit
    }

    public var verifications: [TraceVerification]

    public init(_ verifications: [TraceVerification]) {
        self.verifications = verifications
    }

    public var passed: Bool { verifications.allSatisfy(\.passed) }

    public func rendered(_ format: Format) -> String {
        switch format {
        case .text: text
        case .json: json
        case .junit: junit
        }
    }

    public var text: String { text(accepted: false) }

    /// The text report; `accepted`: as `trace update` prints what it re-recorded.
    public func text(accepted: Bool) -> String {
        var lines: [String] = []
        for file in verifications {
            lines.append("\(file.file): \(file.events.count) event\(file.events.count == 1 ? "" : "s"), "
                + (file.passed ? "all as recorded" : "\(file.differing) differ"))
            for event in file.events where !event.differences.isEmpty {
                lines.append("  event \(event.id) (\(event.op) on \(event.table)):")
                lines += Self.diffLines(event.differences).map { "    " + $0 }
            }
        }
        let events = verifications.reduce(0) { $0 + $1.events.count }, differing = verifications.reduce(0) { $0 + $1.differing }
        if passed {
            lines.append("ok: \(events) event\(events == 1 ? "" : "s") in \(verifications.count) trace\(verifications.count == 1 ? "" : "s") as recorded")
        } else if accepted {
            lines.append("accepted: \(differing) of \(events) events differ, and their traces are re-recorded")
        } else {
            lines.append("FAILED: \(differing) of \(events) events differ; if the change is deliberate, accept it with `pgreflex trace update`")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Each difference as a path, then `-` what was recorded and `+` what happens now; a long
    /// text (a prompt) shows only its lines that changed.
    static func diffLines(_ differences: [TraceDifference]) -> [String] {
        var lines: [String] = []
        for difference in differences {
            lines.append(difference.path + (difference.note.map { " (\($0))" } ?? ""))
            let old = difference.expected.flatMap { TraceJSON.parse(Array($0.utf8)) as? String }
            let new = difference.actual.flatMap { TraceJSON.parse(Array($0.utf8)) as? String }
            if let old, let new, old.contains("\n") || new.contains("\n") {
                let a = old.components(separatedBy: "\n"), b = new.components(separatedBy: "\n")
                let removed = a.filter { !b.contains($0) }, added = b.filter { !a.contains($0) }
                lines += removed.map { "  - " + $0 } + added.map { "  + " + $0 }
                continue
            }
            lines.append("  - " + (difference.expected ?? "(absent)"))
            lines.append("  + " + (difference.actual ?? "(absent)"))
        }
        return lines
    }

    public var json: String {
        let files: [[String: Any]] = verifications.map { file in
            ["file": file.file, "events": file.events.count, "differing": file.differing,
             "differences": file.events.flatMap { event in
                 event.differences.map { difference -> [String: Any] in
                     var item: [String: Any] = ["event": event.id, "path": difference.path,
                                                "expected": difference.expected.flatMap { TraceJSON.parse(Array($0.utf8)) } ?? NSNull(),
                                                "actual": difference.actual.flatMap { TraceJSON.parse(Array($0.utf8)) } ?? NSNull()]
                     if let note = difference.note { item["note"] = note }
                     return item
                 }
             }]
        }
        return TraceJSON.text(["passed": passed, "files": files]) + "\n"
    }

    /// One test suite per trace file and one test case per event, as JUnit's XML has them.
    public var junit: String {
        let tests = verifications.reduce(0) { $0 + $1.events.count }, failures = verifications.reduce(0) { $0 + $1.differing }
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        xml += #"<testsuites name="pgreflex trace verify" tests="\#(tests)" failures="\#(failures)">"# + "\n"
        for file in verifications {
            xml += #"  <testsuite name="\#(Self.escaped(file.file))" tests="\#(file.events.count)" failures="\#(file.differing)" errors="0">"# + "\n"
            for event in file.events {
                let name = Self.escaped("\(event.id) \(event.op) on \(event.table)")
                if event.differences.isEmpty {
                    xml += #"    <testcase classname="\#(Self.escaped(file.file))" name="\#(name)"/>"# + "\n"
                } else {
                    xml += #"    <testcase classname="\#(Self.escaped(file.file))" name="\#(name)">"# + "\n"
                    xml += #"      <failure message="\#(event.differences.count) field\#(event.differences.count == 1 ? "" : "s") differ">"#
                    xml += Self.escaped(Self.diffLines(event.differences).joined(separator: "\n"))
                    xml += "</failure>\n    </testcase>\n"
                }
            }
            xml += "  </testsuite>\n"
        }
        return xml + "</testsuites>\n"
    }

    /// Text as XML character data or an attribute: the five entities escaped, and characters
    /// XML 1.0 cannot hold (controls other than tab and newline) replaced.
    static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF: out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
