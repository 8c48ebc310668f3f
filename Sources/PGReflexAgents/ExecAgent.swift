import Foundation
public import Logging
public import PGReflexAgentContract
import PGReflexDispatch
import PGReflexFiles
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `exec`: runs a command per call, with swift-subprocess. The payload (the envelope, or
/// `{"events": [...]}` for a batch: the webhook's body) goes in on stdin; the outcome, one JSON
/// value or nothing, comes out on stdout. Exit 0 succeeds, 75 (EX_TEMPFAIL) is tried again, a
/// signal is tried again, any other code goes to the dead-letter queue.
///
/// Each call runs in a session (and process group) of its own. At the timeout the group gets
/// SIGTERM, then SIGKILL a second later, so what the command started dies with it; after any
/// call, whatever is left in the group is killed. The environment is only what the config
/// names, plus PATH, LANG and the call's `PGREFLEX_*` variables: pgreflex's own secrets (its
/// DSN, its keys) are never inherited.
public struct ExecAgent: Agent {
    public struct Settings: Sendable {
        /// The program and its arguments; a program without `/` is looked up in PATH.
        public var command: [String]
        /// Set as given.
        public var environment: [String: String]
        public var workingDirectory: String?
        public var timeout: Duration

        public init(command: [String], environment: [String: String] = [:], workingDirectory: String? = nil, timeout: Duration = .seconds(30)) {
            self.command = command
            self.environment = environment
            self.workingDirectory = workingDirectory
            self.timeout = timeout
        }
    }

    public let name: String
    let settings: Settings
    let logger: Logger

    /// What a command may print before its call fails: an outcome is small.
    static let outputLimit = 4 << 20
    static let errorLimit = 1 << 20
    static let tempFail: Int32 = 75

    public init(name: String, settings: Settings, logger: Logger) {
        self.name = name
        self.settings = settings
        self.logger = logger
    }

    public func handle(_ call: AgentCall) async -> AgentOutcome {
        let timeout = min(call.timeout ?? settings.timeout, settings.timeout)
        let program = settings.command[0]
        let command = settings.command
        let input = AgentPayload.body(call.events)
        // stdin is a nameless file, not a pipe: swift-subprocess traps when the child exits
        // without reading a piped input (seen with /bin/false), and a file never blocks a writer.
        let stdin: Int32
        do {
            stdin = try Self.stdinFile(input)
        } catch {
            return .failure(AgentError(code: .temporary, message: "agents.\(name): cannot hold the payload for stdin: \(error)"))
        }
        defer { close(stdin) }
        let variables = callEnvironment(call)
        let workingDirectory = settings.workingDirectory
        let started = ContinuousClock.now
        do {
            let result = try await withThrowingTaskGroup(of: ExecutionRecord?.self) { group in
                group.addTask {
                    var options = PlatformOptions()
                    options.createSession = true
                    options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]
                    let run = try await Subprocess.run(
                        program.contains("/") ? .path(FilePath(program)) : .name(program),
                        arguments: Arguments(Array(command.dropFirst())), environment: .custom(Dictionary(uniqueKeysWithValues: variables.map { (Environment.Key(rawValue: $0.key)!, $0.value) })),
                        workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options, input: .fileDescriptor(FileDescriptor(rawValue: stdin), closeAfterSpawningProcess: false),
                        output: .bytes(limit: Self.outputLimit), error: .bytes(limit: Self.errorLimit))
                    // Whatever the command left running in its group does not outlive the call.
                    kill(-run.processIdentifier.value, SIGKILL)
                    return ExecutionRecord(status: run.terminationStatus, output: run.standardOutput, error: run.standardError)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            guard let result else {
                return .failure(AgentError(code: .timeout, message: "agents.\(name): \(program) ran longer than \(timeout): its process group was killed"))
            }
            logger.debug("exec agent finished", metadata: ["agent": "\(name)", "exec.status": "\(result.status)",
                                                           "exec.duration_ms": "\(UnixTime.micros(started.duration(to: .now)) / 1000)"])
            return Self.outcome(result, agent: name, program: program)
        } catch is CancellationError {
            return .failure(AgentError(code: .timeout, message: "agents.\(name): the call was cancelled (a stop): its process group was killed"))
        } catch let error as SubprocessError where error.code == .outputLimitExceeded {
            return .failure(AgentError(code: .permanent, message: "agents.\(name): \(program) wrote more than \(Self.outputLimit >> 20) MiB to stdout or \(Self.errorLimit >> 20) MiB to stderr: an outcome is one small JSON value"))
        } catch let error as SubprocessError where error.code == .executableNotFound {
            return .failure(AgentError(code: .permanent, message: "agents.\(name).exec.command: \(program) was not found (PATH is \(pathValue)): give its full path"))
        } catch {
            return .failure(AgentError(code: .temporary, message: "agents.\(name): \(program) could not run: \(error)"))
        }
    }

    struct ExecutionRecord: Sendable {
        var status: TerminationStatus
        var output: [UInt8]
        var error: [UInt8]
    }

    /// A nameless temp file holding `bytes`, positioned at its start (``NamelessFile``).
    static func stdinFile(_ bytes: [UInt8]) throws -> Int32 {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        // Close-on-exec from the start: a child spawned by another call meanwhile never inherits it.
        let fd = NamelessFile.open(in: directory, prefix: "pgreflex-stdin-")
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                let error = Errno(rawValue: errno)
                close(fd)
                throw error
            }
            offset += written
        }
        lseek(fd, 0, SEEK_SET)
        return fd
    }

    /// What the exit status and stdout mean for the dispatcher.
    static func outcome(_ result: ExecutionRecord, agent: String, program: String) -> AgentOutcome {
        let stderr = String(decoding: result.error.suffix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let said = stderr.isEmpty ? "" : ": \(stderr)"
        switch result.status {
        case .exited(0):
            let output = result.output.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
            if output.isEmpty { return .success(output: nil) }
            guard (try? JSONSerialization.jsonObject(with: Data(output), options: [.fragmentsAllowed])) != nil else {
                return .failure(AgentError(code: .permanent, message: "agents.\(agent): \(program) exited 0 but its stdout is not one JSON value: print the outcome as JSON on stdout, and logs to stderr"))
            }
            return .success(output: Array(output))
        case .exited(tempFail):
            return .failure(AgentError(code: .temporary, message: "agents.\(agent): \(program) exited 75 (EX_TEMPFAIL)\(said)"))
        case .exited(let code):
            return .failure(AgentError(code: .permanent, message: "agents.\(agent): \(program) exited \(code)\(said)"))
        case .signaled(let signal):
            return .failure(AgentError(code: .temporary, message: "agents.\(agent): \(program) was killed by signal \(signal)\(said)"))
        }
    }

    var pathValue: String {
        ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    }

    /// PATH and LANG, the configured variables, then the call's own (which win).
    func callEnvironment(_ call: AgentCall) -> [String: String] {
        var environment = ["PATH": pathValue, "LANG": "C.UTF-8"]
        environment.merge(settings.environment) { $1 }
        let first = call.events.first?.id ?? call.idempotencyKey
        environment.merge([
            "PGREFLEX_AGENT": name,
            "PGREFLEX_ROUTE": call.route,
            "PGREFLEX_EVENT_ID": first,
            "PGREFLEX_EVENT_COUNT": "\(call.events.count)",
            "PGREFLEX_IDEMPOTENCY_KEY": call.idempotencyKey,
            "PGREFLEX_ATTEMPT": "\(call.attempt)",
            "TRACEPARENT": WebhookAgent.traceparent(eventID: first),
        ]) { $1 }
        return environment
    }
}
