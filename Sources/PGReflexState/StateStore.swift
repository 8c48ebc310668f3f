/// Where the dispatcher keeps what must survive a restart besides the journal: which (event,
/// route, agent) are done, each route consumer's cursor, and the dead-letter queue. Embedded
/// SQLite today (`SQLiteStateStore`); a shared PostgreSQL store comes with scale-out, so the
/// protocol is async and says nothing of SQLite.
public protocol StateStore: Sendable {
    /// Records outcomes and moves a cursor in one transaction: after a crash either both are
    /// there or neither is, so an agent's work is never recorded without its cursor, or the
    /// other way round.
    func commit(_ changes: StateCommit) async throws

    /// Which of these are recorded as done (a duplicate after a crash or a replay is skipped);
    /// with `since` (Unix microseconds), only those recorded at or after it.
    func done(among keys: [DoneKey], since: Int64?) async throws -> Set<DoneKey>

    /// The greatest event id recorded as done for a route's agent. Event ids sort in commit
    /// order, so no event after it can be a duplicate.
    func lastDone(route: String, agent: String) async throws -> String?

    /// The events in a route's open windows, oldest first.
    func windowEntries(route: String) async throws -> [WindowEntry]

    /// Skipped events (rate limit, shedding, idempotency, agents' changes), counted per route and
    /// reason since the route began.
    func skipCounts(route: String?) async throws -> [SkipCount]

    func cursor(_ consumer: String) async throws -> StoredCursor?

    /// Entries in the dead-letter queue, by route.
    func deadLetterCounts() async throws -> [String: Int]

    func deadLetters(_ filter: DeadLetterFilter) async throws -> [DeadLetter]

    /// What routes did with these events (``RouteTrace``), in the order recorded.
    func traces(of eventIDs: [String]) async throws -> [RouteTrace]

    /// A route's latest call attempts, newest first (the status page's route page).
    func recentAttempts(route: String, limit: Int) async throws -> [RouteTrace]

    /// The event's skips, by any route.
    func skips(of eventID: String) async throws -> [Skip]

    /// What agents answered (their outcome JSON), newest last.
    func results(_ filter: AgentResultFilter) async throws -> [AgentResult]

    /// Removes a dead letter (after `dlq drop`, or once `dlq retry` succeeded); false when
    /// there was none with that id.
    func removeDeadLetter(id: Int64) async throws -> Bool

    /// Forgets a route's agent's done records no replay or restart can ask about: events
    /// committed before `commitLSN` (the journal no longer holds them), and idempotency keys
    /// recorded before `keysBefore` (Unix microseconds; past the route's idempotency period).
    /// Returns how many (a duplicate recorded again counts again).
    func pruneDone(route: String, agent: String, before commitLSN: UInt64, keysBefore: Int64) async throws -> Int

    /// Folds a route's records of skipped events committed before `commitLSN` (the journal no
    /// longer holds them) into its counts per reason; `skipCounts` stays the same; forgets its
    /// traces of those events. Returns how many skip records were folded.
    func pruneSkips(route: String, before commitLSN: UInt64) async throws -> Int
}

/// What one transaction of the state store records.
public struct StateCommit: Sendable {
    public var done: [DoneKey]
    public var deadLetters: [DeadLetter]
    public var skips: [Skip]
    /// Dead letters to remove (a `dlq retry` that succeeded).
    public var removedDeadLetters: [Int64]
    /// Events that entered an open window: the cursor may pass them, the store keeps them.
    public var windowAdded: [WindowEntry]
    /// Events that left their window (it fired, or they fell out of its period).
    public var windowRemoved: [(route: String, eventID: String)]
    /// Outcomes agents returned, kept as receipts.
    public var results: [AgentResult]
    /// What the route did with events besides their other records.
    public var traces: [RouteTrace]
    public var cursor: StoredCursor?

    public init(done: [DoneKey] = [], deadLetters: [DeadLetter] = [], skips: [Skip] = [], removedDeadLetters: [Int64] = [],
                windowAdded: [WindowEntry] = [], windowRemoved: [(route: String, eventID: String)] = [], results: [AgentResult] = [],
                traces: [RouteTrace] = [], cursor: StoredCursor? = nil) {
        self.traces = traces
        self.done = done
        self.results = results
        self.deadLetters = deadLetters
        self.skips = skips
        self.removedDeadLetters = removedDeadLetters
        self.windowAdded = windowAdded
        self.windowRemoved = windowRemoved
        self.cursor = cursor
    }

    public var isEmpty: Bool {
        done.isEmpty && deadLetters.isEmpty && skips.isEmpty && removedDeadLetters.isEmpty && windowAdded.isEmpty && windowRemoved.isEmpty
            && results.isEmpty && traces.isEmpty && cursor == nil
    }
}
