import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PGReflexAgentContract
import PGReflexTools

/// The chat-completions exchange: the request, and the answer as the model gave it.
extension LLMAgent {
    struct Usage: Sendable {
        var prompt = 0
        var completion = 0
        var total: Int { prompt + completion }

        mutating func add(_ other: Usage) {
            prompt += other.prompt
            completion += other.completion
        }
    }

    /// One response: the assistant message as it came (to send back), what it said, its usage.
    struct Answer: @unchecked Sendable {
        // @unchecked: `message` holds only JSONSerialization's value types (strings, numbers,
        // arrays and dictionaries of them), built and read by one task.
        var message: [String: Any]
        var content: String?
        var toolCalls: [(id: String, name: String, arguments: String)]
        var usage: Usage
        var model: String?
        var finishReason: String?
    }

    var endpoint: String {
        (settings.baseURL.hasSuffix("/") ? String(settings.baseURL.dropLast()) : settings.baseURL) + "/chat/completions"
    }

    func requestBody(messages: [[String: Any]], maxTokens: Int, citations: [String] = []) -> [String: Any] {
        var body: [String: Any] = ["model": settings.model, "messages": messages, "temperature": settings.temperature, "max_tokens": maxTokens]
        let schema = Self.decisionSchema(actions: settings.actions, tools: tools, citations: citations, minActions: settings.minActions)
        switch settings.decision {
        case .jsonSchema:
            body["response_format"] = ["type": "json_schema", "json_schema": ["name": "decision", "strict": true, "schema": schema]]
        case .tools:
            var functions: [[String: Any]] = [["type": "function", "function": [
                "name": "decide", "description": "Record your decision about the event: a summary, the actions to take, and what you relied on.",
                "parameters": schema, "strict": true,
            ]]]
            // Reads answer at once; an action's call ends the loop and joins the decision.
            for name in settings.readTools + settings.actions {
                guard let tool = tools[name] else { continue }
                functions.append(["type": "function", "function": [
                    "name": name, "description": tool.effect == .read ? "Look up data (read-only); the rows come back." : "Take this action (it runs once the decision is final).",
                    "parameters": ToolParameter.schema(tool.parameters), "strict": true,
                ]])
            }
            body["tools"] = functions
        }
        return body
    }

    func request(messages: [[String: Any]], maxTokens: Int, citations: [String], call: AgentCall, deadline: NIODeadline, timeout: Duration) async -> Result<Answer, AgentError> {
        guard let body = try? JSONSerialization.data(withJSONObject: requestBody(messages: messages, maxTokens: maxTokens, citations: citations), options: [.sortedKeys]) else {
            return .failure(AgentError(code: .permanent, message: "agents.\(name): the request could not be encoded as JSON"))
        }
        let reply: Result<[UInt8], AgentError>
        if let exchange {
            reply = await exchange.exchange(call: call, request: Array(body)) { await self.post(Array(body), deadline: deadline, timeout: timeout) }
        } else {
            reply = await post(Array(body), deadline: deadline, timeout: timeout)
        }
        switch reply {
        case .failure(let error): return .failure(error)
        case .success(let bytes):
            guard let answer = Self.answer(bytes) else {
                return .failure(AgentError(code: .permanent, message: "agents.\(name): \(endpoint) did not answer as an OpenAI-compatible chat completion (no choices[0].message)"))
            }
            return .success(answer)
        }
    }

    /// The request to the model: its answer's body when it is 200.
    func post(_ body: [UInt8], deadline: NIODeadline, timeout: Duration) async -> Result<[UInt8], AgentError> {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "pgreflex")
        if let key = settings.apiKey { request.headers.add(name: "authorization", value: "Bearer \(key)") }
        request.body = .bytes(body)
        do {
            let response = try await HTTPClient.pgreflex.execute(request, deadline: deadline, logger: nil)
            let bytes = Array(try await response.body.collect(upTo: 8 << 20).readableBytesView)
            let status = Int(response.status.code)
            guard status == 200 else {
                if status == 401 || status == 403 {
                    return .failure(AgentError(code: .permanent, message: "agents.\(name): HTTP \(status) from \(endpoint): the API key was refused; check api_key_env"))
                }
                if case .failure(let error) = WebhookAgent.outcome(status: status, retryAfter: response.headers.first(name: "retry-after"),
                                                                   location: response.headers.first(name: "location"), body: bytes) {
                    return .failure(AgentError(code: error.code, message: "agents.\(name): \(endpoint): \(error.message)", retryAfter: error.retryAfter))
                }
                return .failure(AgentError(code: .permanent, message: "agents.\(name): HTTP \(status) from \(endpoint), not 200"))
            }
            return .success(bytes)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return .failure(AgentError(code: .timeout, message: "agents.\(name): \(endpoint) did not answer within \(timeout)"))
        } catch is CancellationError {
            return .failure(AgentError(code: .timeout, message: "agents.\(name): the call was cancelled (a stop, or its timeout)"))
        } catch {
            return .failure(AgentError(code: .temporary, message: "agents.\(name): \(endpoint): \(error)"))
        }
    }

    /// A chat completion's first choice.
    static func answer(_ bytes: [UInt8]) -> Answer? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any],
              let choices = object["choices"] as? [[String: Any]], let message = choices.first?["message"] as? [String: Any] else { return nil }
        let calls = (message["tool_calls"] as? [[String: Any]] ?? []).compactMap { call -> (id: String, name: String, arguments: String)? in
            guard let function = call["function"] as? [String: Any], let name = function["name"] as? String else { return nil }
            return (call["id"] as? String ?? "", name, function["arguments"] as? String ?? "{}")
        }
        let usage = object["usage"] as? [String: Any]
        return Answer(message: message, content: message["content"] as? String, toolCalls: calls,
                      usage: Usage(prompt: usage?["prompt_tokens"] as? Int ?? 0, completion: usage?["completion_tokens"] as? Int ?? 0),
                      model: object["model"] as? String, finishReason: choices.first?["finish_reason"] as? String)
    }
}
