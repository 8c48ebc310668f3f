// The libFuzzer harnesses for where outside input enters beyond the wire (issue 34): the YAML
// configuration, journal segments and records read back from disk, checkpoint and cursor files,
// the outputs of exec, LLM and webhook agents, and golden trace files. Each has an oracle beyond "no crash": errors
// of the module's own type only, and a round trip where one exists.
//
// Built two ways. `Tests/Fuzz/run.sh NAME` builds it with libFuzzer and AddressSanitizer
// (-DFUZZING: libFuzzer's driver, PGREFLEX_FUZZ_TARGET picks the harness). A plain debug build
// (`swift build`, CI) makes `pgreflex-fuzz NAME FILE…`, which runs inputs once: the tests run the
// committed seed corpus through it. It reaches internal parsers through `@testable import`,
// which debug builds allow; a release build makes a stub that says so.
#if DEBUG
import Foundation

/// One harness per place outside input enters.
enum FuzzTarget: String, CaseIterable {
    case config, journal, checkpoint, outputs, traces

    /// Runs one input; an oracle that fails traps (libFuzzer reports the input).
    func run(_ bytes: [UInt8]) {
        switch self {
        case .config: ConfigFuzz.run(bytes)
        case .journal: JournalFuzz.run(bytes)
        case .checkpoint: CheckpointFuzz.run(bytes)
        case .outputs: OutputsFuzz.run(bytes)
        case .traces: TracesFuzz.run(bytes)
        }
    }

    /// The harness libFuzzer runs: PGREFLEX_FUZZ_TARGET, read once.
    static let current: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["PGREFLEX_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("PGREFLEX_FUZZ_TARGET must be one of \(allCases.map(\.rawValue).joined(separator: ", ")), not '\(name)'")
        }
        return target
    }()
}

/// A directory of its own for the harnesses that read files, emptied after each input.
enum Scratch {
    static let directory: String = {
        let path = NSTemporaryDirectory() + "pgreflex-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // Gone when the harness exits (libFuzzer ends with exit()): each run, and each seed
        // test's run, used to leave an empty one behind.
        atexit { try? FileManager.default.removeItem(atPath: Scratch.directory) }
        return path
    }()

    static func write(_ bytes: [UInt8], _ name: String) -> String {
        let path = directory + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    static func clear() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }
}

/// An oracle: traps with the harness's message when `condition` fails.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("oracle failed: \(message())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.current.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

#if FUZZING
/// libFuzzer's driver, called from this executable's own entry point: SwiftPM names that entry
/// point itself, so libFuzzer's `main` cannot be the one.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
struct FuzzDriver {
    static func main() {
        _ = FuzzTarget.current
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
    }
}
#else
@main
struct ReplayInputs {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: pgreflex-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE…")
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                exit(2)
            }
            target.run(Array(data))
            count += 1
        }
        print("\(target.rawValue): \(count) inputs, every oracle held")
    }
}
#endif
#else
@main
struct ReleaseStub {
    static func main() {
        print("pgreflex-fuzz runs in debug builds only: it reaches internal parsers through @testable import")
    }
}
#endif
