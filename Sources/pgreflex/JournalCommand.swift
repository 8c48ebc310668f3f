import ArgumentParser
import Foundation
import Logging
import PGReflexDelivery
import PGReflexJournal
import PGReflexWire

struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Inspect or repair a journal directory.",
        subcommands: [Inspect.self, Repair.self])

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List segments (position ranges, record counts, every CRC verified) and each consumer's position and lag. Exits 1 on a problem.",
            discussion: discussion(example: "pgreflex journal inspect --directory ./journal", doc: "docs/delivery.md"))
        @Option(help: "The journal directory.") var directory: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try global.run {
                let segments: [Journal.SegmentInfo]
                let gaps: [JournalGap]
                let consumers: [JournalConsumer.Lag]
                segments = try Journal.inspect(directory: directory)
                gaps = try Journal.gaps(directory: directory)
                if segments.isEmpty && !FileManager.default.fileExists(atPath: directory + "/consumers")
                    && !FileManager.default.fileExists(atPath: directory + "/checkpoint.json") {
                    throw JournalError(code: .notFound, segment: directory, message: "holds no journal segment and no consumer cursor: "
                        + "pass the run configuration's journal.directory")
                }
                consumers = try JournalConsumer.lags(journal: directory)
                print("segment\tbytes\trecords\tfirst\tlast\tstatus")
                for s in segments {
                    let status = s.problem.map { problem in
                        "\(problem.code) at byte \(problem.offset ?? 0)"
                            + (s.recordsAfterProblem > 0 ? " (\(s.recordsAfterProblem) records after it still verify)" : "")
                    } ?? "ok"
                    print([s.name, "\(s.bytes)", "\(s.records)", s.first.map(\.description) ?? "-", s.last.map(\.description) ?? "-", status]
                        .joined(separator: "\t"))
                }
                for gap in gaps { print("gap: \(gap)" + (gap.walFrom == nil ? " (journal repair)" : "")) }
                let total = segments.reduce(0) { $0 + $1.records }
                let walGaps = gaps.filter { $0.walFrom != nil }.count
                print("\(segments.count) segments, \(total) records, \(segments.filter { $0.problem != nil }.count) with problems"
                    + (gaps.count == walGaps ? "" : ", \(gaps.count - walGaps) gaps from repairs")
                    + (walGaps == 0 ? "" : ", \(walGaps) gaps of WAL never captured"))
                if !consumers.isEmpty {
                    print("consumer\tposition\tbehind_records\tbehind_wal_bytes\theld_tables\tdropped")
                    for c in consumers {
                        print([c.name, c.position?.description ?? "-", "\(c.behindRecords)", "\(c.behindBytes)",
                               c.held.isEmpty ? "-" : c.held.joined(separator: ","), "\(c.dropped)"].joined(separator: "\t"))
                    }
                }
                if segments.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
            }
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Truncate each corrupt segment at its first bad record. The records after it leave the journal.",
            discussion: discussion(example: "pgreflex journal repair --directory ./journal --yes", doc: "docs/delivery.md"))
        @Option(help: "The journal directory.") var directory: String
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Really truncate (without it, only show what would be cut).") var yes = false

        func run() async throws {
            try global.run {
                let problems = try Journal.inspect(directory: directory).filter { $0.problem?.offset != nil }
                if problems.isEmpty {
                    print("nothing to repair")
                    return
                }
                guard yes else {
                    for p in problems {
                        print("would cut \(p.name) at byte \(p.problem!.offset!): \(p.bytes - p.problem!.offset!) bytes, "
                            + "the bad record and at least \(p.recordsAfterProblem) after it")
                    }
                    print("run again with --yes to truncate")
                    return
                }
                for gap in try Journal.repair(directory: directory) {
                    print("cut \(gap). `journal inspect` and `replay` report this gap from now on")
                }
            }
        }
    }
}
