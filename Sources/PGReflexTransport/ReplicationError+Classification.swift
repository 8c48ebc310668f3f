import PGReflexWire

extension ReplicationError {
    /// Turns libpq's connection failure text into an error that says what to fix.
    static func classifyConnectFailure(_ libpqMessage: String, endpoint: String) -> ReplicationError {
        let text = libpqMessage.lowercased()
        if text.contains("must be superuser or replication role") || text.contains("permission denied to start wal sender")
            || text.contains("must have the replication attribute") {
            return ReplicationError(
                code: .missingReplicationPrivilege,
                message: "the role connecting as \(endpoint) may not start logical replication. "
                    + "Grant it: ALTER ROLE <role> WITH REPLICATION; (or connect as a role that has it)",
                serverMessage: libpqMessage)
        }
        if text.contains("password authentication failed") || text.contains("no password supplied")
            || text.contains("authentication failed") || text.contains("no pg_hba.conf entry")
            || text.contains("fe_sendauth") {
            return ReplicationError(
                code: .authenticationFailed,
                message: "PostgreSQL refused the login for \(endpoint). Check the user and password "
                    + "(PGPASSWORD, ~/.pgpass or the conninfo), and that pg_hba.conf has a line for this "
                    + "database, user and address (logical replication connections match the database name, "
                    + "not the 'replication' keyword). libpq said: \(libpqMessage)",
                serverMessage: libpqMessage)
        }
        if text.contains("invalid integer value") || text.contains("invalid port number") || text.contains("invalid sslmode value")
            || text.contains("invalid connection option") || (text.contains("invalid") && text.contains("value for connection option")) {
            return ReplicationError(
                code: .invalidConnInfo,
                message: "the connection string has a value libpq cannot use: \(libpqMessage). Fix that setting (port is a number, "
                    + "host a name, an address or a socket directory)",
                serverMessage: libpqMessage)
        }
        if text.contains("role") && text.contains("does not exist") {
            return ReplicationError(
                code: .roleNotFound,
                message: "the role in the connection string does not exist on \(endpoint): fix user=, or create the role "
                    + "(CREATE ROLE <name> LOGIN REPLICATION;). libpq said: \(libpqMessage)",
                serverMessage: libpqMessage)
        }
        if text.contains("database") && text.contains("does not exist") {
            return ReplicationError(
                code: .databaseNotFound,
                message: "the database in the connection string does not exist on \(endpoint): create it or fix dbname. "
                    + "libpq said: \(libpqMessage)",
                serverMessage: libpqMessage)
        }
        return ReplicationError(
            code: .connectionFailed,
            message: "could not connect to PostgreSQL at \(endpoint): \(libpqMessage). "
                + "Check that the server is running and that host and port are right "
                + "(for a Unix socket, host is the socket directory)",
            serverMessage: libpqMessage)
    }

    static func classifyLost(_ libpqMessage: String) -> ReplicationError {
        ReplicationError(
            code: .connectionLost,
            message: "the connection to PostgreSQL was lost (\(libpqMessage)). Nothing unconfirmed is lost: "
                + "restart and pgreflex resumes from the slot's confirmed position",
            serverMessage: libpqMessage)
    }

    /// Maps a server error (SQLSTATE and primary message) to an error with a fix.
    static func classifyServer(sqlState: String?, message: String) -> ReplicationError {
        let text = message.lowercased()
        switch sqlState {
        case "55000" where text.contains("wal_level"):
            return walLevel(current: nil, serverMessage: message)
        case "53400":
            return ReplicationError(
                code: .slotsExhausted,
                message: "all replication slots are in use. Raise max_replication_slots in postgresql.conf "
                    + "and restart PostgreSQL, or drop an unused slot "
                    + "(SELECT slot_name FROM pg_replication_slots WHERE NOT active)",
                sqlState: sqlState, serverMessage: message)
        case "55006" where text.contains("replication slot"):
            return ReplicationError(
                code: .slotInUse,
                message: "\(message). Another consumer is streaming from this slot: stop it, or use another slot "
                    + "(a slot serves one consumer at a time)",
                sqlState: sqlState, serverMessage: message)
        case "42710" where text.contains("replication slot"):
            return ReplicationError(
                code: .slotAlreadyExists,
                message: "\(message). Use the existing slot (`pgreflex slot show` describes it), or choose another slot name",
                sqlState: sqlState, serverMessage: message)
        case "42704" where text.contains("replication slot"):
            return ReplicationError(
                code: .slotNotFound,
                message: "\(message). Create it (`pgreflex slot create`, tail's --create-slot or run's source.create_slot: true), "
                    + "or name an existing logical slot (SELECT slot_name FROM pg_replication_slots)",
                sqlState: sqlState, serverMessage: message)
        case "42704" where text.contains("publication"):
            return ReplicationError(
                code: .publicationMissing,
                message: "\(message). Create it (CREATE PUBLICATION name FOR TABLE …), or let pgreflex create it "
                    + "(tail's --create-publication or run's source.create_publication: true)",
                sqlState: sqlState, serverMessage: message)
        case "55000" where text.contains("can no longer get changes") || text.contains("invalidated"):
            return ReplicationError(
                code: .slotInvalidated,
                message: "\(message). The slot lost WAL it needed (max_slot_wal_keep_size). Drop and recreate it, "
                    + "then resynchronise downstream from a snapshot",
                sqlState: sqlState, serverMessage: message)
        case "42501":
            return ReplicationError(
                code: .missingReplicationPrivilege,
                message: "\(message). Grant the role what it needs (ALTER ROLE <role> WITH REPLICATION, and SELECT "
                    + "on the published tables)",
                sqlState: sqlState, serverMessage: message)
        default:
            return ReplicationError(
                code: .server, message: "PostgreSQL reported an error: \(message)",
                sqlState: sqlState, serverMessage: message)
        }
    }

    static func walLevel(current: String?, serverMessage: String? = nil) -> ReplicationError {
        ReplicationError(
            code: .walLevelNotLogical,
            message: "logical decoding needs wal_level = logical, but the server runs with wal_level = "
                + "\(current ?? "a lower level"). Set it (ALTER SYSTEM SET wal_level = logical; or edit "
                + "postgresql.conf) and restart PostgreSQL",
            serverMessage: serverMessage)
    }
}

extension ReplicationError {
    /// Worth retrying (reconnecting): the server went away, is restarting, shut the session down,
    /// or is short of resources. Configuration mistakes (a missing slot, no privilege,
    /// wal_level) and a slot another consumer holds are not: they need someone to act first.
    public var isRetryable: Bool {
        switch code {
        case .connectionLost, .connectionFailed: true
        case .server: sqlState.map { $0.hasPrefix("57") || $0.hasPrefix("08") || $0.hasPrefix("53") } ?? false
        case .invalidConnInfo, .authenticationFailed, .roleNotFound, .databaseNotFound, .missingReplicationPrivilege, .missingPublicationPrivilege,
             .walLevelNotLogical, .slotNotFound, .slotAlreadyExists, .slotInUse, .slotWrongPlugin, .slotsExhausted, .slotInvalidated,
             .startLSNUnavailable, .endLSNPassed, .slotPastJournal, .publicationMissing, .publicationLacksTable, .tableNotFound,
             .unsupportedServer, .protocolViolation:
            false
        }
    }
}

extension ReplicationError {
    /// A refused CREATE or ALTER PUBLICATION: which privilege PostgreSQL wants (CREATE on the
    /// database for a new publication, ownership of each table it names), and the two ways out.
    static func publicationPrivilege(_ error: ReplicationError, publication: String, statement: String, tables: [TableName]) -> ReplicationError {
        let said = error.serverMessage ?? error.message
        let owned = tables.map(\.description).joined(separator: ", ")
        let missing = said.lowercased().contains("permission denied for database")
            ? "CREATE on the database (GRANT CREATE ON DATABASE <database> TO <role>;), and then ownership of \(owned.isEmpty ? "every table" : owned)"
            : "ownership of \(owned.isEmpty ? "every table (FOR ALL TABLES needs a superuser)" : owned)"
        return ReplicationError(
            code: .missingPublicationPrivilege,
            message: "the role may not run \(statement) (PostgreSQL said: \(said)): it needs \(missing). "
                + "Either create the publication once as the tables' owner (\(statement);) and set source.create_publication: false, "
                + "or make this role the owner (ALTER TABLE <table> OWNER TO <role>;). docs/cli.md (Setting up PostgreSQL) has the statements",
            sqlState: error.sqlState, serverMessage: error.serverMessage)
    }
}
