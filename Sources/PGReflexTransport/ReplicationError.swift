import PGReflexWire

/// Everything that can go wrong talking to PostgreSQL as a replication client.
///
/// `description` names the problem and the fix. It never contains a password, a conninfo
/// string or row data; the server's own message is kept in `serverMessage` only for
/// catalog-level failures, which carry no row values.
public struct ReplicationError: Error, Sendable, Equatable {
    /// What went wrong, exhaustively: a dispatcher switches over it.
    public enum Code: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case invalidConnInfo = "invalid_conninfo"
        case connectionFailed = "connection_failed"
        case authenticationFailed = "authentication_failed"
        case roleNotFound = "role_not_found"
        case databaseNotFound = "database_not_found"
        case missingReplicationPrivilege = "missing_replication_privilege"
        /// The role may not create or alter the publication (`source.create_publication`).
        case missingPublicationPrivilege = "missing_publication_privilege"
        case walLevelNotLogical = "wal_level_not_logical"
        case slotNotFound = "slot_not_found"
        case slotAlreadyExists = "slot_already_exists"
        case slotInUse = "slot_in_use"
        case slotWrongPlugin = "slot_wrong_plugin"
        case slotsExhausted = "replication_slots_exhausted"
        case slotInvalidated = "slot_invalidated"
        /// --start-lsn is before what the slot has confirmed: the slot cannot go back.
        case startLSNUnavailable = "start_lsn_unavailable"
        /// --end-lsn is before what the slot has confirmed: nothing before it is left to stream.
        case endLSNPassed = "end_lsn_passed"
        /// The slot starts past what the journal has: changes in between were never captured.
        case slotPastJournal = "slot_past_journal"
        case publicationMissing = "publication_missing"
        case publicationLacksTable = "publication_lacks_table"
        case tableNotFound = "table_not_found"
        case unsupportedServer = "unsupported_server"
        case connectionLost = "connection_lost"
        case protocolViolation = "protocol_violation"
        case server = "server_error"

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

    static func decoding(_ error: WireDecodingError) -> ReplicationError {
        ReplicationError(code: .protocolViolation, message: error.description, underlying: error)
    }

    /// Equal when they say the same; the underlying error is not compared.
    public static func == (lhs: ReplicationError, rhs: ReplicationError) -> Bool {
        (lhs.code, lhs.message, lhs.sqlState, lhs.serverMessage) == (rhs.code, rhs.message, rhs.sqlState, rhs.serverMessage)
    }
}

extension ReplicationError: CustomStringConvertible {
    public var description: String { "\(code): \(message)" }
}
