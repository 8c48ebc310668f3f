import ArgumentParser
import PGReflexJournal

struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Inspect or repair a journal directory.",
        subcommands: [Inspect.self, Repair.self])

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List segments with their position ranges and record counts, verifying every CRC. Exits 1 on a problem.")
        @Option(help: "The journal directory.") var directory: String

        func run() async throws {
            let segments: [Journal.SegmentInfo]
            do {
                segments = try Journal.inspect(directory: directory)
            } catch {
                throw fail(error)
            }
            print("segment\tbytes\trecords\tfirst\tlast\tstatus")
            for s in segments {
                print([s.name, "\(s.bytes)", "\(s.records)", s.first.map(\.description) ?? "-", s.last.map(\.description) ?? "-",
                       s.problem.map { "\($0.code) at byte \($0.offset ?? 0)" } ?? "ok"].joined(separator: "\t"))
            }
            let total = segments.reduce(0) { $0 + $1.records }
            print("\(segments.count) segments, \(total) records, \(segments.filter { $0.problem != nil }.count) with problems")
            if segments.contains(where: { $0.problem != nil }) { throw ExitCode(1) }
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Truncate each corrupt segment at its first bad record. The records after it leave the journal.")
        @Option(help: "The journal directory.") var directory: String
        @Flag(help: "Really truncate (without it, only show what would be cut).") var yes = false

        func run() async throws {
            do {
                let problems = try Journal.inspect(directory: directory).filter { $0.problem?.offset != nil }
                if problems.isEmpty {
                    print("nothing to repair")
                    return
                }
                guard yes else {
                    for p in problems { print("would cut \(p.name) at byte \(p.problem!.offset!) (\(p.bytes - p.problem!.offset!) bytes)") }
                    print("run again with --yes to truncate")
                    return
                }
                for cut in try Journal.repair(directory: directory) {
                    print("cut \(cut.segment) at byte \(cut.offset) (\(cut.bytes) bytes)")
                }
            } catch {
                throw fail(error)
            }
        }
    }
}
