import Foundation
import Logging
import PGReflexAgentContract
@testable import PGReflexDelivery
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexState
import PGReflexTestSupport
import PGReflexWire

/// A route's state machine driven by hand, as ``RouteConsumer`` drives it, with a real journal
/// and a real state store in a temporary directory and a test clock: nothing sleeps, nothing
/// needs PostgreSQL. The test picks each call's outcome and when calls in flight finish, and
/// can crash the route at any step (its memory and calls in flight are lost; the journal and
/// the store's commits are not) and start it again from the store, as a restart does.
struct RouteMachineDriver {
    typealias Machine = RouteStateMachine<TestInstant>

    /// What the machine needs of an agent: its name, whether it answers at once, no receipts.
    struct ScriptedAgent: Agent {
        let name = "scripted"
        let answersAtOnce: Bool
        func handle(_ call: AgentCall) async -> AgentOutcome { .success(output: nil) }
        func handleAtOnce(_ calls: [AgentCall]) -> [AgentOutcome] { calls.map { _ in .success(output: nil) } }
    }

    /// The agent's breaker: shared by routes in a process, so a restart starts a new one.
    final class Breaker: RouteBreakerView {
        var breaker = CircuitBreaker<TestInstant>(threshold: 5, coolDown: .milliseconds(5))
        var isClosed: Bool { if case .closed = breaker.state { true } else { false } }
        func decide(now: TestInstant) -> CircuitBreaker<TestInstant>.Decision { breaker.decide(now: now) }
        func succeeded() -> Bool { breaker.succeeded() }
        func failed(now: TestInstant) -> Bool { breaker.failed(now: now) }
    }

    /// A journal of one change per transaction to `public.orders`: row `id` of key `k`, committed
    /// `i` seconds after `base`.
    static func journal(rows: [(id: Int, k: Int)], in directory: String, base: Int64) throws -> JournalChannel.DurableMark {
        let journal = try Journal(options: .init(directory: directory), logger: Logger(label: "test"))
        for (i, row) in rows.enumerated() {
            let lsn = UInt64(0x1000 + i * 0x100)
            try journal.append(JournalRecord(
                position: EventPosition(commitLSN: LSN(lsn), ordinal: 0), transactionEnd: LSN(lsn + 0x10),
                metadata: .init(table: "public.orders", operation: UInt8(ascii: "u"), schemaVersion: 1, xid: UInt32(i + 1),
                                commitTime: base + Int64(i) * 1_000_000, keyHash: UInt64(row.id + 1)),
                envelope: Array(#"{"op":"u","after":{"id":\#(row.id),"k":\#(row.k)}}"#.utf8)))
        }
        try journal.sync()
        return journal.durableMark
    }

    let settings: RouteSettings
    let agent: ScriptedAgent
    let journalDirectory: String
    let store: SQLiteStateStore
    let mark: JournalChannel.DurableMark
    /// Each call's outcome, by its call (the attempt included).
    let outcome: (AgentCall) -> AgentOutcome
    var breaker = Breaker()
    var machine: Machine
    var reader: JournalReader
    var now = TestInstant.at(0)
    var wall: Int64
    /// Calls handed over as tasks and not yet finished.
    var running: [(id: Int, job: Machine.Job, call: AgentCall)] = []
    /// The events of each call that took effect, in the order they did.
    var effects: [[String]] = []
    var notices: [RouteNotice] = []
    var restarts = 0
    /// With it, calls in flight finish at random passes and commits happen at random passes
    /// too (as well as when due); without it, calls finish at the next pass.
    var random: SplitMix64?
    /// Records the last pass read (0: the journal's end).
    var lastRead = -1

    let sharedValues: EventValuesCache?

    init(settings: RouteSettings, answersAtOnce: Bool, directory: String, mark: JournalChannel.DurableMark, wall: Int64,
         sharedValues: EventValuesCache? = nil, outcome: @escaping (AgentCall) -> AgentOutcome) async throws {
        self.sharedValues = sharedValues
        self.settings = settings
        agent = ScriptedAgent(answersAtOnce: answersAtOnce)
        journalDirectory = directory + "/journal"
        store = try SQLiteStateStore(directory: directory + "/state")
        self.mark = mark
        self.outcome = outcome
        self.wall = wall
        let loaded = try await RouteConsumer.loadMachine(settings: settings, agent: agent, store: store, journalDirectory: journalDirectory,
                                            mode: .follow, now: now, noticesCalls: true, sharedValues: sharedValues,
                                                          logger: Logger(label: "test"))
        machine = loaded.machine
        reader = JournalReader(directory: journalDirectory, after: loaded.start)
    }

    /// One pass of the route's loop: the calls in flight finish, up to `max` records are read
    /// and admitted, timers fire, calls start, and a commit is made if one is due. Returns how
    /// many records were read.
    @discardableResult
    mutating func step(max: Int = 3) async throws -> Int {
        var finishing = running
        running = []
        if random != nil {
            running = finishing.filter { _ in Int.random(in: 0..<3, using: &random!) == 0 }
            finishing = finishing.filter { call in !running.contains { $0.id == call.id } }
        }
        for call in finishing {
            let result = take(job: call.job, call: call.call)
            try perform(machine.callFinished(call.id, result, now: now, wallNow: wall, retrying: true, breaker: breaker))
        }
        var matched: [(event: RoutedEvent, values: CELActivation?)] = []
        let read = try reader.read(upTo: mark, maxRecords: max) { record in
            if let event = try machine.consider(record, readAt: wall) { matched.append(event) }
        }
        if let queries = machine.prepare(matched, now: now, wallNow: wall) {
            let done = queries.done.isEmpty ? [] : Set(try await store.done(among: queries.done, since: nil).map(\.eventID))
            let run: Set<DoneKey> = queries.idempotency.isEmpty ? [] : try await store.done(among: queries.idempotency, since: queries.idempotencySince)
            try perform(machine.admit(done: done, idempotencyRun: run, breaker: breaker))
        }
        // The journal is whole: capture has finished.
        if read == 0 { try machine.flushAll(now: now, wallNow: wall) }
        try machine.timersFired(now: now, wallNow: wall)
        var more = true
        while more {
            let step = try machine.startCalls(now: now, wallNow: wall, captureBehind: { _ in false }, breaker: breaker, receiptMark: { nil })
            more = step.more
            try perform(step.actions)
        }
        if machine.commitIsDue(now: now) || (random != nil && Int.random(in: 0..<4, using: &random!) == 0) { try await commit() }
        now = now.advanced(by: .milliseconds(1))
        wall += 1000
        lastRead = read
        return read
    }

    /// The route has nothing more to do: everything read, nothing running or waiting, all committed.
    var isFinished: Bool {
        lastRead == 0 && machine.isIdle && running.isEmpty && !machine.hasUncommitted
    }

    mutating func commit() async throws {
        if let changes = machine.takeCommit(now: now, receiptMark: { nil }) { try await store.commit(changes) }
    }

    /// kill -9: what is in memory is gone; a call in flight took effect or did not (`tookEffect`).
    mutating func crash(tookEffect: ((id: Int, job: Machine.Job, call: AgentCall)) -> Bool) async throws {
        for call in running where tookEffect(call) {
            if case .success = outcome(call.call) { effects.append(call.job.events.map(\.id)) }
        }
        running = []
        restarts += 1
        breaker = Breaker()
        let loaded = try await RouteConsumer.loadMachine(settings: settings, agent: agent, store: store, journalDirectory: journalDirectory,
                                            mode: .follow, now: now, noticesCalls: true, sharedValues: sharedValues,
                                                          logger: Logger(label: "test"))
        machine = loaded.machine
        reader = JournalReader(directory: journalDirectory, after: loaded.start)
        lastRead = -1
    }

    /// Runs until finished, or `steps` passes (then it is stuck).
    mutating func runToEnd(steps: Int = 100_000, crashing: (inout Self) async throws -> Void = { _ in }) async throws -> Bool {
        for _ in 0..<steps {
            try await step()
            try await crashing(&self)
            if isFinished { return true }
        }
        return false
    }

    private mutating func take(job: Machine.Job, call: AgentCall) -> AgentOutcome {
        let result = outcome(call)
        if case .success = result { effects.append(job.events.map(\.id)) }
        return result
    }

    /// Does what the machine says, as the route's actor does.
    mutating func perform(_ actions: [Machine.Action]) throws {
        var work = actions
        var index = 0
        while index < work.count {
            switch work[index] {
            case .notice(let notice): notices.append(notice)
            case .run(let calls): running += zip(calls.ids, zip(calls.jobs, calls.calls)).map { ($0, $1.0, $1.1) }
            case .answerNow(let calls):
                let outcomes = zip(calls.jobs, calls.calls).map { take(job: $0, call: $1) }
                work.insert(contentsOf: try machine.answered(calls, outcomes, micros: 1, now: now, wallNow: wall, breaker: breaker), at: index + 1)
            }
            index += 1
        }
    }
}
