import Foundation
public import PGReflexConfig
public import PGReflexMonitoring
import PGReflexAgentContract
import PGReflexJournal
import PGReflexRouter
public import PGReflexState
public import PGReflexStatus
import PGReflexWire

/// Which changes `event show` (and the status page's search) looks for.
public enum ChangeQuery: Sendable, Equatable {
    /// An event id, as envelopes, routes and dead letters write it.
    case id(String)
    /// Every change of a row the journal still holds: `schema.table` and its key, either the
    /// one key column's value (`1234`) or the key as JSON (`{"id":1234}`).
    case key(table: String, value: String)

    /// `0000000001A2B3C8-00000003`, or `public.orders:1234`; nil when it is neither.
    public init?(parsing text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        if EventPosition(eventID: text) != nil {
            self = .id(text.lowercased())
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let table = String(text[..<colon]), value = String(text[text.index(after: colon)...])
        guard !table.isEmpty, !value.isEmpty else { return nil }
        self = .key(table: table.contains(".") ? table : "public." + table, value: value)
    }

}

extension RunConfiguration {
    /// What happened to the changes `query` finds, newest first (at most `limit`): each from the
    /// journal, with what every route of this configuration (and any route the store has
    /// traces of) did with it. `store` is nil when no route has run yet.
    public func changeTraces(_ query: ChangeQuery, limit: Int = 10, store: (any StateStore)?) async throws -> [ChangeTrace] {
        var found: [(record: JournalRecord, segment: String, offset: Int)] = []
        switch query {
        case .id(let id):
            guard let position = EventPosition(eventID: id) else { return [] }
            try Journal.locate(directory: journal.directory, from: position, to: position) { record, segment, offset in
                found.append((record, segment, offset))
            }
        case .key(let table, let value):
            let wanted = Self.keyObject(value)
            // A plain value that JSON writes as it is is somewhere in the envelope's bytes: a byte
            // search passes over most records before any is parsed.
            let needle = wanted == nil && !value.utf8.contains { $0 < 32 || $0 == 34 || $0 == 92 } ? Array(value.utf8) : nil
            try Journal.locate(directory: journal.directory) { record, segment, offset in
                guard let metadata = record.resolvedMetadata, metadata.table == table,
                      needle.map({ record.envelope.firstRange(of: $0) != nil }) ?? true else { return }
                guard let key = Self.keyObject(ofEnvelope: record.envelope), Self.key(key, matches: wanted, text: value) else { return }
                found.append((record, segment, offset))
                // Newest first, at most `limit`: older ones drop off as the scan goes on.
                if found.count > Swift.max(1, limit) { found.removeFirst() }
            }
            found.reverse()
        }
        var traces: [ChangeTrace] = []
        for (record, segment, offset) in found.prefix(Swift.max(1, limit)) {
            traces.append(try await changeTrace(record, segment: segment, offset: offset, store: store))
        }
        return traces
    }

    func changeTrace(_ record: JournalRecord, segment: String, offset: Int, store: (any StateStore)?) async throws -> ChangeTrace {
        let metadata = record.resolvedMetadata
        let id = EventID.string(lsn: record.position.commitLSN.rawValue, ordinal: record.position.ordinal)
        let table = metadata?.table ?? ""
        let op = metadata.map { String(UnicodeScalar($0.operation)) } ?? ""
        let keyObject = Self.keyObject(ofEnvelope: record.envelope)
        let keyText = keyObject.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) }
            .map { String(decoding: $0, as: UTF8.self) }
        let place = ChangeTrace.Place(segment: segment, offset: offset, commitLSN: record.position.commitLSN.rawValue, ordinal: record.position.ordinal,
                                      xid: metadata?.xid ?? 0, commitTime: metadata?.commitTime ?? 0, journaledAt: metadata?.journaledAt ?? 0,
                                      schemaVersion: metadata?.schemaVersion)
        let traces = try await store?.traces(of: [id]) ?? []
        let skips = try await store?.skips(of: id) ?? []
        let letters = try await store?.deadLetters(DeadLetterFilter(eventID: id)) ?? []
        let activation = (try? CELValue.activation(envelope: record.envelope)) ?? [:]
        var routes: [ChangeTrace.Route] = []
        for settings in self.routes {
            let verdict = settings.route.verdict(table: table, op: op) { activation }
            let condition: String?
            switch verdict {
            case .matches: condition = settings.route.condition == nil ? nil : "true"
            case .conditionFalse: condition = "false"
            case .conditionFailed(let error): condition = "no value: \(error.message)"
            default: condition = nil
            }
            var route = ChangeTrace.Route(name: settings.name, agent: settings.agent, matches: verdict == .matches,
                                          reason: verdict.description, condition: condition, steps: [], calls: [], deadLetter: nil, state: "filtered")
            // A backfill aimed at another route never reached this one.
            if let aimed = metadata?.route, aimed != settings.name {
                route.matches = false
                route.reason = "a backfill for route \(aimed)"
            }
            try await fill(&route, id: id, position: record.position, consumer: settings.consumerName, traces: traces, skips: skips,
                           letters: letters, store: store)
            routes.append(route)
        }
        // Routes the store remembers that this configuration no longer has.
        let known = Set(self.routes.map(\.name))
        for name in Set(traces.map(\.route)).union(skips.map(\.route)).union(letters.map(\.route)).subtracting(known).sorted() {
            var route = ChangeTrace.Route(name: name, agent: letters.first { $0.route == name }?.agent ?? "-", matches: nil, reason: "",
                                          condition: nil, steps: [], calls: [], deadLetter: nil, state: "handled")
            try await fill(&route, id: id, position: record.position, consumer: "route:" + name, traces: traces, skips: skips, letters: letters,
                           store: store)
            routes.append(route)
        }
        return ChangeTrace(id: id, table: table, op: op, key: keyText, place: place, envelope: record.envelope, routes: routes)
    }

    /// A route's steps, calls, dead letter and state, from the store.
    func fill(_ route: inout ChangeTrace.Route, id: String, position: EventPosition, consumer: String, traces: [RouteTrace], skips: [Skip],
              letters: [DeadLetter], store: (any StateStore)?) async throws {
        let mine = traces.filter { $0.route == route.name }
        route.steps = mine.filter { $0.kind != .attempt && $0.kind != .attempts }.map { ChangeTrace.Step(kind: $0.kind.rawValue, detail: $0.detail, at: $0.at) }
        route.steps += skips.filter { $0.route == route.name }.map { ChangeTrace.Step(kind: $0.reason.rawValue, detail: "", at: $0.at) }
        route.steps.sort { $0.at < $1.at }
        // Attempts, grouped into calls by their first event and key, in the order they ran.
        var calls: [ChangeTrace.Call] = []
        for var attempt in mine where attempt.kind == .attempt || attempt.kind == .attempts {
            // A line of one-event calls alike: this event's call is one of them.
            if attempt.kind == .attempts { attempt.events = [id] }
            let value = attempt.key.isEmpty ? attempt.events.first ?? id : attempt.key
            let key = AgentCall.idempotencyKey(route: route.name, agent: route.agent, value: value)
            let entry = ChangeTrace.Attempt(number: attempt.attempt, readAt: attempt.readAt, startedAt: attempt.at, micros: attempt.micros,
                                            outcome: attempt.outcome, error: attempt.error.isEmpty ? nil : attempt.error)
            if let index = calls.firstIndex(where: { $0.idempotencyKey == key && $0.events == attempt.events }) {
                calls[index].attempts.append(entry)
            } else {
                calls.append(ChangeTrace.Call(idempotencyKey: key, events: attempt.events, attempts: [entry], decision: nil, actions: []))
            }
        }
        for index in calls.indices {
            guard let first = calls[index].events.first, let store else { continue }
            let results = try await store.results(AgentResultFilter(route: route.name, eventID: first))
            guard let result = results.last(where: { $0.idempotencyKey == calls[index].idempotencyKey }) ?? results.last else { continue }
            (calls[index].decision, calls[index].actions) = Self.decision(result.output)
        }
        route.calls = calls
        if let letter = letters.first(where: { $0.route == route.name }) {
            route.deadLetter = ChangeTrace.DeadLetterReference(id: letter.id ?? 0, errorClass: letter.errorClass, message: letter.message,
                                                               attempts: letter.attempts)
        }
        route.state = try await state(of: route, id: id, position: position, consumer: consumer, store: store)
    }

    func state(of route: ChangeTrace.Route, id: String, position: EventPosition, consumer: String, store: (any StateStore)?) async throws -> String {
        if route.deadLetter != nil { return "dead_lettered" }
        if route.steps.contains(where: { Skip.Reason(rawValue: $0.kind) != nil }) { return "skipped" }
        if route.matches == false { return "filtered" }
        let done = try await store?.done(among: [DoneKey(eventID: id, route: route.name, agent: route.agent)], since: nil) ?? []
        if !done.isEmpty { return "done" }
        let cursor = try await store?.cursor(consumer)
        let passed = cursor.map { EventPosition(commitLSN: LSN($0.commitLSN), ordinal: $0.ordinal) >= position } ?? false
        if let last = route.steps.last?.kind, ["window", "held", "throttled"].contains(last) { return last == "window" ? "in_window" : last }
        if !route.calls.isEmpty { return "waiting" }
        return passed ? "handled" : "not_read"
    }

    /// A route's latest calls and dead letters (the status page's route page); nil when the
    /// configuration has no such route.
    public func routeActivity(_ name: String, limit: Int = 50, store: any StateStore) async throws -> RouteActivity? {
        guard routes.contains(where: { $0.name == name }) else { return nil }
        let calls = try await store.recentAttempts(route: name, limit: limit).map { trace in
            RouteActivity.Call(events: trace.events, attempt: ChangeTrace.Attempt(
                number: trace.attempt, readAt: trace.readAt, startedAt: trace.at, micros: trace.micros, outcome: trace.outcome,
                error: trace.error.isEmpty ? nil : trace.error))
        }
        let letters = try await store.deadLetters(DeadLetterFilter(route: name, newestFirst: true, limit: limit)).map { letter in
            RouteActivity.Letter(eventID: letter.eventID, letter: ChangeTrace.DeadLetterReference(
                id: letter.id ?? 0, errorClass: letter.errorClass, message: letter.message, attempts: letter.attempts), lastAttempt: letter.lastAttempt)
        }
        return RouteActivity(route: name, calls: calls, deadLetters: letters)
    }

    /// The status page's change and route pages, over this configuration's journal and `store`.
    public func changePages(store: any StateStore) -> ChangePages {
        ChangePages(
            changes: { text in
                guard let query = ChangeQuery(parsing: text) else { return nil }
                return try await self.changeTraces(query, store: store)
            },
            route: { name in try await self.routeActivity(name, store: store) })
    }

    /// A kept outcome split into the decision (without its receipts) and its actions.
    static func decision(_ output: [UInt8]) -> (String?, [ChangeTrace.Action]) {
        guard !output.isEmpty else { return (nil, []) }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(output))) as? [String: Any] else {
            return (String(decoding: output, as: UTF8.self), [])
        }
        let receipts = object.removeValue(forKey: "receipts") as? [[String: Any]] ?? []
        let actions = receipts.map { receipt in
            ChangeTrace.Action(index: receipt["index"] as? Int ?? 0, tool: receipt["tool"] as? String ?? "",
                               idempotencyKey: receipt["idempotency_key"] as? String ?? "", status: receipt["status"] as? String ?? "",
                               result: receipt["result"].flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .fragmentsAllowed]) }
                                   .map { String(decoding: $0, as: UTF8.self) })
        }
        let text = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
        return (text, actions)
    }

    /// The envelope's `key` object; nil when it has none (or is not a JSON object).
    static func keyObject(ofEnvelope envelope: [UInt8]) -> [String: Any]? {
        ((try? JSONSerialization.jsonObject(with: Data(envelope))) as? [String: Any])?["key"] as? [String: Any]
    }

    /// A key given as JSON (`{"id":1234}`); nil when it is a plain value.
    static func keyObject(_ text: String) -> [String: Any]? {
        guard text.hasPrefix("{") else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    /// Whether a row's key is the one asked for: the same JSON object, or, for a one-column key,
    /// that column's value written as text.
    static func key(_ key: [String: Any], matches wanted: [String: Any]?, text: String) -> Bool {
        if let wanted { return NSDictionary(dictionary: key).isEqual(to: wanted) }
        guard key.count == 1, let value = key.first?.value else { return false }
        switch value {
        case let string as String: return string == text
        case let number as NSNumber: return number.stringValue == text
        default: return false
        }
    }
}
