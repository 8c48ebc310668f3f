import PGReflexWire

/// Everything that can go wrong talking to PostgreSQL: the replication stream, and the plain
/// SQL of tools, snapshots and the commands' probes alike.
///
/// `description` names the problem and the fix. It never contains a password, a conninfo
/// string or row data; the server's own message is kept in `serverMessage` only for
/// catalog-level failures, which carry no row values.
///
/// Its shape is PSQLError's: a struct whose `code` is a struct of static values, so that a code
/// can be added without breaking a caller's `switch` (which compares with `==`).
public struct PostgresError: Error, Sendable, Equatable {
    /// What went wrong. Callers compare with the static values.
    public struct Code: Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// The code's name in errors and logs (`slot_not_found`).
        public let rawValue: String

        private init(_ rawValue: String) { self.rawValue = rawValue }

        public static let invalidConnInfo = Code("invalid_conninfo")
        public static let connectionFailed = Code("connection_failed")
        public static let authenticationFailed = Code("authentication_failed")
        public static let roleNotFound = Code("role_not_found")
        public static let databaseNotFound = Code("database_not_found")
        public static let missingReplicationPrivilege = Code("missing_replication_privilege")
        /// The role may not create or alter the publication (`source.create_publication`).
        public static let missingPublicationPrivilege = Code("missing_publication_privilege")
        public static let walLevelNotLogical = Code("wal_level_not_logical")
        public static let slotNotFound = Code("slot_not_found")
        public static let slotAlreadyExists = Code("slot_already_exists")
        public static let slotInUse = Code("slot_in_use")
        public static let slotWrongPlugin = Code("slot_wrong_plugin")
        public static let slotsExhausted = Code("replication_slots_exhausted")
        public static let slotInvalidated = Code("slot_invalidated")
        /// --start-lsn is before what the slot has confirmed: the slot cannot go back.
        public static let startLSNUnavailable = Code("start_lsn_unavailable")
        /// --end-lsn is before what the slot has confirmed: nothing before it is left to stream.
        public static let endLSNPassed = Code("end_lsn_passed")
        /// The slot starts past what the journal has: changes in between were never captured.
        public static let slotPastJournal = Code("slot_past_journal")
        public static let publicationMissing = Code("publication_missing")
        public static let publicationLacksTable = Code("publication_lacks_table")
        public static let tableNotFound = Code("table_not_found")
        public static let unsupportedServer = Code("unsupported_server")
        public static let connectionLost = Code("connection_lost")
        public static let protocolViolation = Code("protocol_violation")
        public static let server = Code("server_error")

        public static let allCases: [Code] = [
            .invalidConnInfo, .connectionFailed, .authenticationFailed, .roleNotFound, .databaseNotFound, .missingReplicationPrivilege,
            .missingPublicationPrivilege, .walLevelNotLogical, .slotNotFound, .slotAlreadyExists, .slotInUse, .slotWrongPlugin,
            .slotsExhausted, .slotInvalidated, .startLSNUnavailable, .endLSNPassed, .slotPastJournal, .publicationMissing,
            .publicationLacksTable, .tableNotFound, .unsupportedServer, .connectionLost, .protocolViolation, .server,
        ]

        public var description: String { rawValue }
    }

    public var code: Code
    /// What happened and what to do about it.
    public var message: String
    public var sqlState: String?
    public var serverMessage: String?
    /// The error underneath (a ``WireDecodingError`` for a protocol violation), kept whole.
    public var underlying: (any Error & Sendable)?

    public init(code: Code, message: String, sqlState: String? = nil, serverMessage: String? = nil,
                underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.serverMessage = serverMessage
        self.underlying = underlying
    }

    static func decoding(_ error: WireDecodingError) -> PostgresError {
        PostgresError(code: .protocolViolation, message: error.description, underlying: error)
    }

    /// Equal when they say the same; the underlying error is not compared.
    public static func == (lhs: PostgresError, rhs: PostgresError) -> Bool {
        (lhs.code, lhs.message, lhs.sqlState, lhs.serverMessage) == (rhs.code, rhs.message, rhs.sqlState, rhs.serverMessage)
    }
}

extension PostgresError: CustomStringConvertible {
    public var description: String { "\(code): \(message)" }
}
