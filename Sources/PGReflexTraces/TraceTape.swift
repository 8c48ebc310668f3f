import Foundation
import PGReflexAgentContract
import PGReflexAgents
import PGReflexTools
import Synchronization

/// What a trace's calls are told, and what they ask: the model's replies and the read tools'
/// rows, by call key. With `live` inputs the model and the read tools answer and the tape
/// keeps what they said; with recorded inputs the tape answers from the trace, so a replay
/// needs no model, no network and no database.
final class TraceTape: ChatExchange {
    enum Inputs: Sendable {
        case live
        /// By call key: `{"replies": [...], "reads": [{tool, arguments, result}]}`.
        case recorded(RecordedInputs)
    }

    struct RecordedInputs: @unchecked Sendable {
        // @unchecked: JSONSerialization's value types only, read and never mutated.
        var byCall: [String: Any]
    }

    /// One call's exchanges as they happen.
    struct Recording: @unchecked Sendable {
        // @unchecked: JSONSerialization's value types only, touched under the tape's lock.
        var requests: [[String: Any]] = []
        var replies: [Any] = []
        var reads: [[String: Any]] = []
        /// Recorded reads already given back (by index), in a replay.
        var readsUsed: Set<Int> = []
    }

    let inputs: Inputs
    private let state = Mutex<(current: String, recordings: [String: Recording])>(("", [:]))

    init(inputs: Inputs) {
        self.inputs = inputs
    }

    /// The calls of a trace run one at a time: what the tools do belongs to this one.
    func begin(callKey: String) {
        state.withLock { $0.current = callKey }
    }

    func recording(_ callKey: String) -> Recording {
        state.withLock { $0.recordings[callKey] ?? Recording() }
    }

    private func recorded(_ callKey: String) -> [String: Any]? {
        guard case .recorded(let recorded) = inputs else { return nil }
        return recorded.byCall[callKey] as? [String: Any]
    }

    func exchange(call: AgentCall, request: [UInt8], send: @Sendable () async -> Result<[UInt8], AgentError>) async -> Result<[UInt8], AgentError> {
        let key = call.idempotencyKey
        let number = state.withLock { state -> Int in
            state.recordings[key, default: Recording()].requests.append(TraceJSON.parse(request) as? [String: Any] ?? [:])
            return state.recordings[key]!.requests.count
        }
        switch inputs {
        case .live:
            let reply = await send()
            if case .success(let bytes) = reply {
                state.withLock { $0.recordings[key, default: Recording()].replies.append(TraceJSON.parse(bytes) ?? NSNull()) }
            }
            return reply
        case .recorded:
            let replies = recorded(key)?["replies"] as? [Any] ?? []
            guard number <= replies.count else {
                return .failure(AgentError(code: .permanent, message: "agents.\(call.route): the trace holds \(replies.count) recorded repl\(replies.count == 1 ? "y" : "ies") "
                    + "for call \(key), and this run asked the model a request more (#\(number)): re-record it with `pgreflex trace update --live`"))
            }
            let reply = replies[number - 1]
            state.withLock { $0.recordings[key, default: Recording()].replies.append(reply) }
            return .success(TraceJSON.encode(reply))
        }
    }

    /// A read tool's rows: from the tool (kept), or from the recording (the first unused read
    /// of the same tool with the same arguments).
    func read(_ tool: any Tool, live: (any Tool)?, _ invocation: ToolInvocation) async -> Result<ToolReceipt, ToolError> {
        let arguments = invocation.arguments.mapValues { $0.map { $0 as Any } ?? NSNull() }
        let key = state.withLock { $0.current }
        if case .live = inputs, let live {
            let result = await live.run(invocation)
            if case .success(let receipt) = result {
                let rows = TraceJSON.parse(Array(receipt.result.utf8)) ?? receipt.result
                state.withLock { $0.recordings[key, default: Recording()].reads.append(["tool": tool.name, "arguments": arguments, "result": rows]) }
            }
            return result
        }
        let reads = recorded(key)?["reads"] as? [[String: Any]] ?? []
        let wanted = TraceJSON.text(arguments)
        let found = state.withLock { state -> Int? in
            let used = state.recordings[key]?.readsUsed ?? []
            guard let index = reads.indices.first(where: { !used.contains($0) && reads[$0]["tool"] as? String == tool.name
                                                           && TraceJSON.text(reads[$0]["arguments"] ?? [:]) == wanted }) else { return nil }
            state.recordings[key, default: Recording()].readsUsed.insert(index)
            state.recordings[key]!.reads.append(reads[index])
            return index
        }
        guard let found else {
            return .failure(ToolError(code: .permanent, message: "the trace holds no rows of tools.\(tool.name) for \(wanted) in call \(key): "
                + "re-record it with `pgreflex trace update --live` (its read tools then run against the database)"))
        }
        return .success(ToolReceipt(status: .done, result: TraceJSON.text(reads[found]["result"] ?? NSNull())))
    }
}

/// A read tool in a trace: the tape answers (``TraceTape/read(_:live:_:)``).
struct TapedReadTool: Tool {
    let name: String
    let parameters: [ToolParameter]
    var effect: ToolEffect { .read }
    let live: (any Tool)?
    let tape: TraceTape

    func run(_ invocation: ToolInvocation) async -> Result<ToolReceipt, ToolError> {
        await tape.read(self, live: live, invocation)
    }
}

/// A write tool in a trace: it does not run, and says so in its receipt. Its parameters detokenize
/// nothing, so that no value is revealed for a write that never happens.
struct SimulatedWriteTool: Tool {
    let name: String
    let parameters: [ToolParameter]
    var effect: ToolEffect { .write }

    init(name: String, parameters: [ToolParameter]) {
        self.name = name
        self.parameters = parameters.map { var parameter = $0; parameter.detokenize = false; return parameter }
    }

    func run(_ invocation: ToolInvocation) async -> Result<ToolReceipt, ToolError> {
        .success(ToolReceipt(status: .simulated, result: #"{"simulated":true}"#))
    }
}
