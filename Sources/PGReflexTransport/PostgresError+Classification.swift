import PGReflexWire

extension PostgresError {
    /// How a failed connection reads in libpq's text (a connection failure carries no SQLSTATE
    /// libpq hands over): the first rule whose test the lowercased text passes gives the code
    /// and the message, from libpq's text and the endpoint. No rule: `connection_failed`.
    struct ConnectRule: Sendable {
        let code: Code
        let matches: @Sendable (String) -> Bool
        let message: @Sendable (_ libpq: String, _ endpoint: String) -> String
    }

    static let connectRules: [ConnectRule] = [
        ConnectRule(code: .missingReplicationPrivilege, matches: { text in
            ["must be superuser or replication role", "permission denied to start wal sender", "must have the replication attribute"]
                .contains { text.contains($0) }
        }, message: { _, endpoint in
            "the role connecting as \(endpoint) may not start logical replication. "
                + "Grant it: ALTER ROLE <role> WITH REPLICATION; (or connect as a role that has it)"
        }),
        ConnectRule(code: .authenticationFailed, matches: { text in
            ["password authentication failed", "no password supplied", "authentication failed", "no pg_hba.conf entry", "fe_sendauth"]
                .contains { text.contains($0) }
        }, message: { libpq, endpoint in
            "PostgreSQL refused the login for \(endpoint). Check the user and password "
                + "(PGPASSWORD, ~/.pgpass or the conninfo), and that pg_hba.conf has a line for this "
                + "database, user and address (logical replication connections match the database name, "
                + "not the 'replication' keyword). libpq said: \(libpq)"
        }),
        ConnectRule(code: .invalidConnInfo, matches: { text in
            ["invalid integer value", "invalid port number", "invalid sslmode value", "invalid connection option"].contains { text.contains($0) }
                || (text.contains("invalid") && text.contains("value for connection option"))
        }, message: { libpq, _ in
            "the connection string has a value libpq cannot use: \(libpq). Fix that setting (port is a number, "
                + "host a name, an address or a socket directory)"
        }),
        ConnectRule(code: .roleNotFound, matches: { $0.contains("role") && $0.contains("does not exist") }, message: { libpq, endpoint in
            "the role in the connection string does not exist on \(endpoint): fix user=, or create the role "
                + "(CREATE ROLE <name> LOGIN REPLICATION;). libpq said: \(libpq)"
        }),
        ConnectRule(code: .databaseNotFound, matches: { $0.contains("database") && $0.contains("does not exist") }, message: { libpq, endpoint in
            "the database in the connection string does not exist on \(endpoint): create it or fix dbname. libpq said: \(libpq)"
        }),
    ]

    /// Turns libpq's connection failure text into an error that says what to fix.
    static func classifyConnectFailure(_ libpqMessage: String, endpoint: String) -> PostgresError {
        let text = libpqMessage.lowercased()
        if let rule = connectRules.first(where: { $0.matches(text) }) {
            return PostgresError(code: rule.code, message: rule.message(libpqMessage, endpoint), serverMessage: libpqMessage)
        }
        return PostgresError(
            code: .connectionFailed,
            message: "could not connect to PostgreSQL at \(endpoint): \(libpqMessage). "
                + "Check that the server is running and that host and port are right "
                + "(for a Unix socket, host is the socket directory)",
            serverMessage: libpqMessage)
    }

    static func classifyLost(_ libpqMessage: String) -> PostgresError {
        PostgresError(
            code: .connectionLost,
            message: "the connection to PostgreSQL was lost (\(libpqMessage)). Nothing unconfirmed is lost: "
                + "restart and pgreflex resumes from the slot's confirmed position",
            serverMessage: libpqMessage)
    }

    /// What a server error means, by SQLSTATE. Where one SQLSTATE covers several things
    /// (`42704` is any undefined object), the rule also needs one of `mentions` in the
    /// lowercased message. The message is built from PostgreSQL's own.
    struct ServerRule: Sendable {
        let sqlState: String
        let mentions: [String]
        let code: Code
        let message: @Sendable (_ server: String) -> String
    }

    static let serverRules: [ServerRule] = [
        ServerRule(sqlState: "55000", mentions: ["wal_level"], code: .walLevelNotLogical, message: { _ in walLevelMessage(current: nil) }),
        ServerRule(sqlState: "53400", mentions: [], code: .slotsExhausted, message: { _ in
            "all replication slots are in use. Raise max_replication_slots in postgresql.conf "
                + "and restart PostgreSQL, or drop an unused slot "
                + "(SELECT slot_name FROM pg_replication_slots WHERE NOT active)"
        }),
        ServerRule(sqlState: "55006", mentions: ["replication slot"], code: .slotInUse, message: { server in
            "\(server). Another consumer is streaming from this slot: stop it, or use another slot "
                + "(a slot serves one consumer at a time)"
        }),
        ServerRule(sqlState: "42710", mentions: ["replication slot"], code: .slotAlreadyExists, message: { server in
            "\(server). Use the existing slot (`pgreflex slot show` describes it), or choose another slot name"
        }),
        ServerRule(sqlState: "42704", mentions: ["replication slot"], code: .slotNotFound, message: { server in
            "\(server). Create it (`pgreflex slot create`, tail's --create-slot or run's source.create_slot: true), "
                + "or name an existing logical slot (SELECT slot_name FROM pg_replication_slots)"
        }),
        ServerRule(sqlState: "42704", mentions: ["publication"], code: .publicationMissing, message: { server in
            "\(server). Create it (CREATE PUBLICATION name FOR TABLE …), or let pgreflex create it "
                + "(tail's --create-publication or run's source.create_publication: true)"
        }),
        ServerRule(sqlState: "55000", mentions: ["can no longer get changes", "invalidated"], code: .slotInvalidated, message: { server in
            "\(server). The slot lost WAL it needed (max_slot_wal_keep_size). Drop and recreate it, "
                + "then resynchronise downstream from a snapshot"
        }),
        ServerRule(sqlState: "42501", mentions: [], code: .missingReplicationPrivilege, message: { server in
            "\(server). Grant the role what it needs (ALTER ROLE <role> WITH REPLICATION, and SELECT on the published tables)"
        }),
    ]

    /// Maps a server error (SQLSTATE and primary message) to an error with a fix.
    static func classifyServer(sqlState: String?, message: String) -> PostgresError {
        let text = message.lowercased()
        let rule = serverRules.first { rule in
            rule.sqlState == sqlState && (rule.mentions.isEmpty || rule.mentions.contains { text.contains($0) })
        }
        guard let rule else {
            return PostgresError(code: .server, message: "PostgreSQL reported an error: \(message)", sqlState: sqlState, serverMessage: message)
        }
        return PostgresError(code: rule.code, message: rule.message(message), sqlState: rule.code == .walLevelNotLogical ? nil : sqlState,
                             serverMessage: message)
    }

    static func walLevel(current: String?, serverMessage: String? = nil) -> PostgresError {
        PostgresError(code: .walLevelNotLogical, message: walLevelMessage(current: current), serverMessage: serverMessage)
    }

    static func walLevelMessage(current: String?) -> String {
        "logical decoding needs wal_level = logical, but the server runs with wal_level = "
            + "\(current ?? "a lower level"). Set it (ALTER SYSTEM SET wal_level = logical; or edit "
            + "postgresql.conf) and restart PostgreSQL"
    }
}

extension PostgresError {
    /// Worth retrying (reconnecting): the server went away, is restarting, shut the session down,
    /// or is short of resources. Configuration mistakes (a missing slot, no privilege,
    /// wal_level) and a slot another consumer holds are not: they need someone to act first.
    public var isRetryable: Bool {
        switch code {
        case .connectionLost, .connectionFailed: true
        // Operator intervention (57), a lost connection (08), resources (53).
        case .server: sqlState.map { $0.hasPrefix("57") || $0.hasPrefix("08") || $0.hasPrefix("53") } ?? false
        default: false
        }
    }
}

extension PostgresError {
    /// A refused CREATE or ALTER PUBLICATION: which privilege PostgreSQL wants (CREATE on the
    /// database for a new publication, ownership of each table it names), and the two ways out.
    static func publicationPrivilege(_ error: PostgresError, publication: String, statement: String, tables: [TableName]) -> PostgresError {
        let said = error.serverMessage ?? error.message
        let owned = tables.map(\.description).joined(separator: ", ")
        let missing = said.lowercased().contains("permission denied for database")
            ? "CREATE on the database (GRANT CREATE ON DATABASE <database> TO <role>;), and then ownership of \(owned.isEmpty ? "every table" : owned)"
            : "ownership of \(owned.isEmpty ? "every table (FOR ALL TABLES needs a superuser)" : owned)"
        return PostgresError(
            code: .missingPublicationPrivilege,
            message: "the role may not run \(statement) (PostgreSQL said: \(said)): it needs \(missing). "
                + "Either create the publication once as the tables' owner (\(statement);) and set source.create_publication: false, "
                + "or make this role the owner (ALTER TABLE <table> OWNER TO <role>;). docs/cli.md (Setting up PostgreSQL) has the statements",
            sqlState: error.sqlState, serverMessage: error.serverMessage)
    }
}
