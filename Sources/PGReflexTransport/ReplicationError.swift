import PGReflexWire

/// Everything that can go wrong talking to PostgreSQL as a replication client.
///
/// `description` names the problem and the fix. It never contains a password, a conninfo
/// string or row data; the server's own message is kept in `serverMessage` only for
/// catalog-level failures, which carry no row values.
public struct ReplicationError: Error, Sendable, Hashable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let invalidConnInfo = Code("invalid_conninfo")
        public static let connectionFailed = Code("connection_failed")
        public static let authenticationFailed = Code("authentication_failed")
        public static let roleNotFound = Code("role_not_found")
        public static let databaseNotFound = Code("database_not_found")
        public static let missingReplicationPrivilege = Code("missing_replication_privilege")
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
        public static let publicationMissing = Code("publication_missing")
        public static let publicationLacksTable = Code("publication_lacks_table")
        public static let tableNotFound = Code("table_not_found")
        public static let unsupportedServer = Code("unsupported_server")
        public static let connectionLost = Code("connection_lost")
        public static let protocolViolation = Code("protocol_violation")
        public static let server = Code("server_error")
    }

    public var code: Code
    /// What happened and what to do about it.
    public var message: String
    public var sqlState: String?
    public var serverMessage: String?

    public init(code: Code, message: String, sqlState: String? = nil, serverMessage: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.serverMessage = serverMessage
    }

    static func decoding(_ error: WireDecodingError) -> ReplicationError {
        ReplicationError(code: .protocolViolation, message: error.description)
    }
}

extension ReplicationError: CustomStringConvertible {
    public var description: String { "\(code): \(message)" }
}
