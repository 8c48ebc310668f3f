#if DEBUG
import Foundation
@testable import PGReflexTraces

/// A golden trace file and a file of hand-written envelopes, as found in a repository: each
/// reads, or is a `TraceError` naming the file and line; a trace that reads writes and reads
/// back the same events (the envelope byte for byte) and expected sides, and compares equal to
/// itself under no tolerance.
enum TracesFuzz {
    static func run(_ bytes: [UInt8]) {
        defer { Scratch.clear() }
        let path = Scratch.write(bytes, "trace.jsonl")
        do {
            let trace = try GoldenTrace.read(path: path)
            let copy = Scratch.directory + "/copy.jsonl"
            try trace.write(path: copy)
            let again = try GoldenTrace.read(path: copy)
            require(again.entries.map(\.event) == trace.entries.map(\.event), "a trace's events do not survive a write and a read")
            require(again.header.tolerances == trace.header.tolerances, "a trace's tolerances do not survive a write and a read")
            for (old, new) in zip(trace.entries, again.entries) {
                require(TraceComparison.differences(expected: old.expected, actual: new.expected, tolerances: []).isEmpty,
                        "an entry's expected side differs from itself after a write and a read")
            }
        } catch {
            require(error.message.hasPrefix(path), "a trace error that does not name the file: \(error.message)")
        }
        do {
            let events = try TraceEvent.fromFile(path: path)
            require(!events.isEmpty, "an events file read as no events without an error")
        } catch {
            require(error.message.contains(path), "an events error that does not name the file: \(error.message)")
        }
    }
}
#endif
