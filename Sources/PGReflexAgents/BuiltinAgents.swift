import Foundation
public import Logging
public import PGReflexAgentContract
import PGReflexFiles
import Synchronization

/// `file`: appends each event's envelope as a JSON line and fsyncs before it answers, as the
/// sink does. Calls are serialized: lines of two calls never interleave. Its lines are its
/// receipts: after a crash, an event whose line is there is not written again.
public final class FileAgent: Agent {
    public let name: String
    private let sink: Mutex<FileSink>

    public init(name: String, path: String, setting: String) throws {
        self.name = name
        sink = Mutex(try FileSink(path: path, setting: setting))
    }

    public func handle(_ call: AgentCall) async -> AgentOutcome {
        handleAtOnce([call])[0]
    }

    public var answersAtOnce: Bool { true }

    /// Every call's lines, then one sync: the calls succeed or fail together.
    public func handleAtOnce(_ calls: [AgentCall]) -> [AgentOutcome] {
        let outcome: AgentOutcome
        do {
            try sink.withLock { sink in
                for call in calls {
                    for event in call.events { sink.append(event.envelope) }
                }
                try sink.sync()
            }
            outcome = .success(output: nil)
        } catch let error as SinkError {
            outcome = .failure(AgentError(code: error.isRetryable ? .temporary : .permanent, message: error.description))
        } catch {
            outcome = .failure(AgentError(code: .temporary, message: "\(error)"))
        }
        return Array(repeating: outcome, count: calls.count)
    }

    public func receiptMark() -> Int64? {
        sink.withLock { $0.size }
    }

    public func receipts(since mark: Int64) throws -> Set<String> {
        let bytes = try sink.withLock { try $0.contents(from: mark) }
        var ids = Set<String>()
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = object["id"] as? String {
                ids.insert(id)
            }
        }
        return ids
    }
}

/// `log`: one log line per event (id, table, op), at the level configured; never its values.
public struct LogAgent: Agent {
    public let name: String
    let logger: Logger
    let level: Logger.Level

    public init(name: String, level: Logger.Level = .info, logger: Logger) {
        self.name = name
        self.level = level
        self.logger = logger
    }

    public func handle(_ call: AgentCall) async -> AgentOutcome {
        handleAtOnce([call])[0]
    }

    public var answersAtOnce: Bool { true }

    public func handleAtOnce(_ calls: [AgentCall]) -> [AgentOutcome] {
        for call in calls {
            for event in call.events {
                logger.log(level: level, "route matched", metadata: [
                    "route": "\(call.route)", "agent": "\(name)", "event.id": "\(event.id)", "table": "\(event.table)", "op": "\(event.op)",
                ])
            }
        }
        return Array(repeating: .success(output: nil), count: calls.count)
    }
}

/// `noop`: succeeds, at once or after `delay` (an agent's latency, without holding a thread),
/// for benchmarks of everything in front of the agent.
public struct NoopAgent: Agent {
    public let name: String
    let delay: Duration?

    public init(name: String, delay: Duration? = nil) {
        self.name = name
        self.delay = delay
    }

    public func handle(_ call: AgentCall) async -> AgentOutcome {
        if let delay {
            do {
                try await Task.sleep(for: delay)
            } catch {
                return .failure(AgentError(code: .temporary, message: "cancelled"))
            }
        }
        return .success(output: nil)
    }

    /// Without a delay there is nothing to wait for.
    public var answersAtOnce: Bool { delay == nil }

    public func handleAtOnce(_ calls: [AgentCall]) -> [AgentOutcome] {
        Array(repeating: .success(output: nil), count: calls.count)
    }
}
