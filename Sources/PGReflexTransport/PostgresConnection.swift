import CLibPQ
public import Logging
import PGReflexThreads
public import PGReflexWire

/// A libpq connection, confined to a thread of its own (its actor executor).
///
/// In `.replication` mode it is a logical replication connection (`replication=database`):
/// it runs replication commands (IDENTIFY_SYSTEM, slots, START_REPLICATION) and simple SQL.
/// In `.sql` mode it is an ordinary session. Either way, every libpq call for it happens on
/// its thread, so blocking calls never stall Swift's cooperative pool.
public actor PostgresConnection {
    public enum Mode: Sendable {
        case replication
        case sql
    }

    private let thread: DedicatedThread
    private var pg: PGConnection?
    public nonisolated let mode: Mode
    public nonisolated let logger: Logger

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        thread.asUnownedSerialExecutor()
    }

    private init(mode: Mode, logger: Logger) {
        self.mode = mode
        self.logger = logger
        self.thread = DedicatedThread()
    }

    deinit {
        thread.shutdown()
    }

    /// Session settings of every replication connection (they replace any `options` in the conninfo).
    public static let replicationSessionOptions =
        "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex"

    /// Opens a connection from a conninfo string (`host=… dbname=…`) or a `postgresql://` URI.
    public static func connect(
        _ conninfo: String, mode: Mode = .replication, applicationName: String = "pgreflex", logger: Logger
    ) async throws(PostgresError) -> PostgresConnection {
        try ConnInfo.validate(conninfo)
        let connection = PostgresConnection(mode: mode, logger: logger)
        try await connection.open(conninfo, applicationName: applicationName)
        return connection
    }

    private func open(_ conninfo: String, applicationName: String) throws(PostgresError) {
        // Later keywords override what the expanded conninfo says: replication mode is ours to set.
        var keywords = ["application_name", "dbname"]
        var values = [applicationName, conninfo]
        if mode == .replication {
            keywords.append("replication")
            values.append("database")
            // pgoutput formats values in the walsender's session: pin the settings that shape
            // text forms, so timestamps arrive in UTC, intervals in ISO-8601, floats exact.
            keywords.append("options")
            values.append(Self.replicationSessionOptions)
        }
        let handle = ConnInfo.withCStringArrays(keywords, values) { k, v in PQconnectdbParams(k, v, 1) }
        guard let handle else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection (out of memory)")
        }
        let connection = PGConnection(handle: handle)
        guard connection.isOK else {
            throw PostgresError.classifyConnectFailure(connection.errorMessage, endpoint: connection.endpoint)
        }
        pg = connection
        logger.debug("connected", metadata: ["postgres.endpoint": "\(connection.endpoint)",
                                             "postgres.server_version": "\(connection.serverVersion)"])
    }

    /// Connects, runs `body`, and closes the connection whatever `body` does: a command's
    /// connection lives exactly as long as the command needs it.
    public static func withConnection<Result>(
        _ conninfo: String, mode: Mode = .replication, applicationName: String = "pgreflex", logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await connect(conninfo, mode: mode, applicationName: applicationName, logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Closes the connection now. Further calls fail with `connection_lost`.
    public func close() {
        pg = nil
    }

    func connection() throws(PostgresError) -> PGConnection {
        guard let pg else {
            throw PostgresError(code: .connectionLost, message: "the connection is closed")
        }
        return pg
    }

    /// `server_version_num`, for example 150018.
    public var serverVersion: Int {
        get throws(PostgresError) { try connection().serverVersion }
    }

    /// The database connected to.
    public var database: String {
        get throws(PostgresError) { try connection().database }
    }

    /// `user@host:port/dbname`, safe to log.
    public var endpoint: String {
        get throws(PostgresError) { try connection().endpoint }
    }

    /// Runs one or more statements with the simple query protocol (the only one a replication
    /// connection accepts) and returns the last result's rows as text.
    @discardableResult
    public func execute(_ sql: String) throws(PostgresError) -> [[String?]] {
        let pg = try connection()
        guard let result = pg.execute(sql) else {
            throw PostgresError.classifyLost(pg.errorMessage)
        }
        switch result.status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return result.rows
        default:
            throw PostgresError.classifyServer(sqlState: result.sqlState, message: result.primaryMessage ?? pg.errorMessage)
        }
    }

    /// A statement's result: its column names and its rows, as text.
    public struct QueryResult: Sendable, Equatable {
        public var columns: [String]
        public var rows: [[String?]]
        /// Rows the statement inserted, updated or deleted (or returned).
        public var affectedRows: Int

        public init(columns: [String], rows: [[String?]], affectedRows: Int? = nil) {
            self.columns = columns
            self.rows = rows
            self.affectedRows = affectedRows ?? rows.count
        }
    }

    /// One statement with parameters sent apart from the SQL (the extended protocol, so `.sql`
    /// connections only): what a tool runs with arguments a model or a program chose.
    public func query(_ sql: String, parameters: [String?] = []) throws(PostgresError) -> QueryResult {
        let pg = try connection()
        guard let result = pg.execute(sql, parameters: parameters.isEmpty ? [] : parameters) else {
            throw PostgresError.classifyLost(pg.errorMessage)
        }
        switch result.status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return QueryResult(columns: result.columnNames, rows: result.rows, affectedRows: result.affectedRows)
        default:
            throw PostgresError.classifyServer(sqlState: result.sqlState, message: result.primaryMessage ?? pg.errorMessage)
        }
    }

    /// `SHOW name`.
    public func setting(_ name: String) throws(PostgresError) -> String? {
        try execute("SHOW \(try connection().escapeIdentifier(name))").first?.first ?? nil
    }

    public func quoteLiteral(_ value: String) throws(PostgresError) -> String {
        try connection().escapeLiteral(value)
    }

    public func quoteIdentifier(_ value: String) throws(PostgresError) -> String {
        try connection().escapeIdentifier(value)
    }

    /// IDENTIFY_SYSTEM: the cluster id, timeline, current WAL flush position and database.
    public func identifySystem() throws(PostgresError) -> SystemIdentity {
        let rows = try execute("IDENTIFY_SYSTEM")
        guard let row = rows.first, row.count >= 4, let id = row[0], let timeline = row[1].flatMap({ Int($0) }),
              let position = row[2].flatMap({ LSN($0) })
        else {
            throw PostgresError(code: .protocolViolation, message: "IDENTIFY_SYSTEM returned an unexpected row")
        }
        return SystemIdentity(systemID: id, timeline: timeline, xLogPosition: position, database: row[3])
    }
}

public struct SystemIdentity: Sendable, Equatable {
    public var systemID: String
    public var timeline: Int
    public var xLogPosition: LSN
    public var database: String?
}
