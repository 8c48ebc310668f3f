/// One snapshot: what to read, where it has got to, and what state it is in. Kept in the
/// state store, so `pgreflex snapshot` commands and a running `run` share it, and a restart
/// resumes at the last chunk whose rows are durable in the journal.
public struct SnapshotJob: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// Taken when the slot was created, in the snapshot it exported. Interrupted, it
        /// resumes as an incremental snapshot.
        case initial
        /// DBLog chunks between watermarks, alongside streaming.
        case incremental
    }

    public enum State: String, Sendable, Codable, CaseIterable {
        /// Waiting for a running `run` to pick it up (one snapshot runs at a time, oldest first).
        case pending
        case running
        case paused
        case cancelled
        case completed
        case failed

        /// Ended: nothing more will be read.
        public var isFinal: Bool { self == .cancelled || self == .completed || self == .failed }
    }

    public var id: Int64
    public var kind: Kind
    public var state: State
    /// `schema.table`, read in this order.
    public var tables: [String]
    /// A SQL condition rows must meet (`--where`).
    public var condition: String?
    public var chunkSize: Int
    /// Deliver the reads to this route only.
    public var route: String?
    public var maxRowsPerSecond: Int?
    public var progress: SnapshotProgress
    /// Unix microseconds.
    public var createdAt: Int64
    public var updatedAt: Int64
    /// Why it failed.
    public var error: String?

    public init(id: Int64 = 0, kind: Kind, state: State = .pending, tables: [String], condition: String? = nil, chunkSize: Int = 1024,
                route: String? = nil, maxRowsPerSecond: Int? = nil, progress: SnapshotProgress? = nil, createdAt: Int64, error: String? = nil) {
        self.id = id
        self.kind = kind
        self.state = state
        self.tables = tables
        self.condition = condition
        self.chunkSize = chunkSize
        self.route = route
        self.maxRowsPerSecond = maxRowsPerSecond
        self.progress = progress ?? SnapshotProgress(tableCount: tables.count)
        self.createdAt = createdAt
        updatedAt = createdAt
        self.error = error
    }

    /// The table being read, nil once every table is done.
    public var currentTable: String? {
        progress.tableIndex < tables.count ? tables[progress.tableIndex] : nil
    }
}

/// How far a snapshot has got: the table being read and the last key (or page) whose row is
/// durable in the journal. Reading resumes after it.
public struct SnapshotProgress: Sendable, Equatable, Codable {
    public var tableIndex: Int
    /// The primary key (text forms, in key order) of the last row read; nil: from the start.
    public var lastKey: [String?]?
    /// For a table without a primary key: the first page not yet read.
    public var nextPage: Int
    public var chunks: Int
    /// Rows emitted (reads a streamed change made stale are not counted).
    public var rows: Int
    /// Rows emitted per table, in `tables` order.
    public var tableRows: [Int]
    /// Chunks read again because a transaction invisible to the read had already streamed.
    public var rereads: Int
    /// Reads dropped because a streamed change to the same key arrived while their window was open.
    public var staleDropped: Int

    public init(tableCount: Int) {
        tableIndex = 0
        nextPage = 0
        chunks = 0
        rows = 0
        rereads = 0
        staleDropped = 0
        tableRows = Array(repeating: 0, count: tableCount)
    }

    /// Counters added later default to 0, so progress saved by an older version still reads.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tableIndex = try container.decode(Int.self, forKey: .tableIndex)
        lastKey = try container.decodeIfPresent([String?].self, forKey: .lastKey)
        nextPage = try container.decodeIfPresent(Int.self, forKey: .nextPage) ?? 0
        chunks = try container.decodeIfPresent(Int.self, forKey: .chunks) ?? 0
        rows = try container.decodeIfPresent(Int.self, forKey: .rows) ?? 0
        tableRows = try container.decodeIfPresent([Int].self, forKey: .tableRows) ?? []
        rereads = try container.decodeIfPresent(Int.self, forKey: .rereads) ?? 0
        staleDropped = try container.decodeIfPresent(Int.self, forKey: .staleDropped) ?? 0
    }

    /// Moves to the next table.
    public mutating func finishTable() {
        tableIndex += 1
        lastKey = nil
        nextPage = 0
    }
}
