/// An event as an agent gets it: its id, what it is, and its envelope (privacy-safe JSON).
/// What never changes is one shared object: the dispatcher hands an event from stage to stage
/// and into a call by reference, never field by field.
public struct AgentEvent: Sendable, Equatable {
    public final class Body: Sendable {
        public let id: String
        public let table: String
        public let op: String
        public let envelope: [UInt8]
        /// The commit time, Unix microseconds (0: unknown).
        public let commitTime: Int64

        public init(id: String, table: String, op: String, envelope: [UInt8], commitTime: Int64) {
            self.id = id
            self.table = table
            self.op = op
            self.envelope = envelope
            self.commitTime = commitTime
        }
    }

    public let body: Body
    /// How many agents' actions lie behind this change (0: a change nobody's agent made).
    public var depth: Int

    public var id: String { body.id }
    public var table: String { body.table }
    public var op: String { body.op }
    public var envelope: [UInt8] { body.envelope }
    /// The commit time, Unix microseconds (0: unknown).
    public var commitTime: Int64 { body.commitTime }

    public init(id: String, table: String, op: String, envelope: [UInt8], commitTime: Int64 = 0, depth: Int = 0) {
        self.init(body: Body(id: id, table: table, op: op, envelope: envelope, commitTime: commitTime), depth: depth)
    }

    public init(body: Body, depth: Int = 0) {
        self.body = body
        self.depth = depth
    }

    public static func == (a: AgentEvent, b: AgentEvent) -> Bool {
        a.depth == b.depth && (a.body === b.body || (a.id == b.id && a.table == b.table && a.op == b.op && a.envelope == b.envelope
                                                      && a.commitTime == b.commitTime))
    }
}
