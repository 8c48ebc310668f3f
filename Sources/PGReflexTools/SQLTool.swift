import Foundation
public import Logging
import PGReflexAgentContract
public import PGReflexPrivacy
import PGReflexTransport
public import PGReflexWire

/// `sql_query` (read) and `sql_exec` (write), and `emit` (a transactional logical message), on
/// a small pool of ordinary sessions of their own (`pool`, 4 by default), each opened on first
/// use and again after a failure. One run at a time per session; the most recently used idle
/// session is taken first, so a tool that runs one action at a time keeps one connection.
///
/// A write runs in one transaction with its receipt: a row keyed by the idempotency key in
/// `pgreflex.action_receipts`. When the key is already there, the write is not run again. Both
/// commit or neither does, so the database itself guarantees the effect happens once.
public actor SQLTool: Tool {
    public enum Kind: Sendable, Equatable {
        /// A read-only transaction: a query that tries to write fails.
        case query(String)
        /// One statement, with `compensate` to undo it when a later action of the same
        /// decision fails for good.
        case exec(String, compensate: String?)
        /// `pg_logical_emit_message(true, prefix, …)`: a message in the WAL that carries the
        /// arguments and the causing event's id, for whatever reads the stream next.
        case emit(prefix: String)
    }

    public nonisolated let name: String
    public nonisolated let parameters: [ToolParameter]
    let kind: Kind
    let dsn: String
    /// Read results pass the privacy policy as rows of this table would, before anyone (a
    /// model) sees them: `tools.<name>` unless the tool says which table its columns are.
    let privacy: PrivacyPolicy?
    let protectAs: TableName
    let logger: Logger
    /// One session of the pool: its connection and the replication origin it commits under
    /// (the loop guard's depth).
    struct Session {
        var connection: PostgresConnection?
        var origin: String?
    }

    private var sessions: [Session]
    /// Idle sessions, the most recently used last. A run takes one and gives it back: two runs
    /// interleaved on one connection (an actor is reentrant at each `await`) would share a
    /// transaction and an origin.
    private var idle: [Int]
    private var waiting: [CheckedContinuation<Int, Never>] = []
    private var originRefused = false

    public nonisolated var effect: ToolEffect {
        if case .query = kind { return .read }
        return .write
    }

    public init(name: String, kind: Kind, parameters: [ToolParameter], dsn: String, privacy: PrivacyPolicy? = nil,
                protectAs: TableName? = nil, pool: Int = 4, logger: Logger) {
        self.name = name
        sessions = Array(repeating: Session(), count: max(1, pool))
        idle = Array((0..<max(1, pool)).reversed())
        self.privacy = privacy
        self.protectAs = protectAs ?? TableName(schema: "tools", name: name)
        self.kind = kind
        self.parameters = parameters
        self.dsn = dsn
        self.logger = logger
    }

    /// The receipts table, created on a write tool's first use. A tool whose role may not
    /// create it needs it made beforehand, with INSERT, SELECT and UPDATE granted to the role.
    /// One transaction under an advisory lock: tools that open their sessions at the same time
    /// would otherwise race on `IF NOT EXISTS` (it is not atomic) and one would fail with a
    /// duplicate key in pg_namespace.
    public static let receiptsDDL = """
        BEGIN;
        SELECT pg_advisory_xact_lock(hashtext('pgreflex.action_receipts'));
        CREATE SCHEMA IF NOT EXISTS pgreflex;
        CREATE TABLE IF NOT EXISTS pgreflex.action_receipts (
            idempotency_key text PRIMARY KEY,
            tool text NOT NULL,
            causation_id text NOT NULL,
            result jsonb,
            done_at timestamptz NOT NULL DEFAULT now()
        );
        COMMIT;
        """

    private func connected(_ session: Int) async throws(PostgresError) -> PostgresConnection {
        if let connection = sessions[session].connection { return connection }
        let opened = try await PostgresConnection.connect(dsn, mode: .sql, applicationName: "pgreflex-tool", logger: logger)
        // Only when missing: CREATE … IF NOT EXISTS still needs the CREATE privilege, which a
        // role given the table beforehand need not have.
        if effect == .write, try await opened.query("SELECT to_regclass('pgreflex.action_receipts')").rows.first?.first ?? nil == nil {
            try await opened.execute(Self.receiptsDDL)
        }
        sessions[session].connection = opened
        return opened
    }

    public func run(_ invocation: ToolInvocation) async -> Result<ToolReceipt, ToolError> {
        await run(invocation, compensating: false)
    }

    /// Undoes a done write (its `compensate` statement, same arguments), once.
    public func compensate(_ invocation: ToolInvocation) async -> Result<ToolReceipt, ToolError>? {
        guard case .exec(_, .some) = kind else { return nil }
        return await run(invocation, compensating: true)
    }

    private func acquire() async -> Int {
        if let session = idle.popLast() { return session }
        return await withCheckedContinuation { waiting.append($0) }
    }

    private func release(_ session: Int) {
        if waiting.isEmpty { idle.append(session) } else { waiting.removeFirst().resume(returning: session) }
    }

    private func run(_ invocation: ToolInvocation, compensating: Bool) async -> Result<ToolReceipt, ToolError> {
        let session = await acquire()
        defer { release(session) }
        let values = invocation.values(for: parameters)
        do {
            let connection = try await connected(session)
            switch kind {
            case .query(let sql):
                try await connection.execute("BEGIN READ ONLY")
                do {
                    let result = try await connection.query(sql, parameters: Array(values.prefix(Self.parameterCount(sql))))
                    try await connection.execute("COMMIT")
                    return .success(ToolReceipt(status: .done, result: Self.json(protected(result))))
                } catch {
                    _ = try? await connection.execute("ROLLBACK")
                    throw error
                }
            case .exec(let statement, let undo):
                let key = compensating ? invocation.idempotencyKey + ":compensate" : invocation.idempotencyKey
                return try await once(connection, session: session, key: key, invocation) {
                    let sql = compensating ? undo ?? statement : statement
                    let result = try await connection.query(sql, parameters: Array(values.prefix(Self.parameterCount(sql))))
                    return #"{"rows":\#(result.affectedRows)}"#
                }
            case .emit(let prefix):
                return try await once(connection, session: session, key: invocation.idempotencyKey, invocation) {
                    var content: [String: Any] = ["causation_id": invocation.causationID, "idempotency_key": invocation.idempotencyKey]
                    content["arguments"] = invocation.arguments.mapValues { $0.map { $0 as Any } ?? NSNull() }
                    let text = String(decoding: (try? JSONSerialization.data(withJSONObject: content, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
                    let result = try await connection.query("SELECT pg_logical_emit_message(true, $1, $2)::text", parameters: [prefix, text])
                    return #"{"lsn":"\#(result.rows.first?.first.flatMap { $0 } ?? "")"}"#
                }
            }
        } catch {
            sessions[session] = Session()  // a failed session may be in any state: the next run opens a new one
            guard let error = error as? PostgresError else {
                return .failure(ToolError(code: .temporary, message: "tools.\(name): \(error)"))
            }
            // The server's own words (never a value: the primary message only), not the
            // replication hints the transport adds for pgreflex's own connection.
            let text = error.serverMessage.map { "PostgreSQL says: \($0)" + (error.sqlState.map { " (SQLSTATE \($0))" } ?? "") } ?? error.message
            return .failure(ToolError(code: error.isRetryable ? .temporary : .permanent, message: "tools.\(name): \(text)"))
        }
    }

    /// Commits this session's writes under the cause's replication origin, so capture can tell
    /// which agent made the change, and how deep the chain is. Setting an origin needs
    /// superuser or a grant of the pg_replication_origin_* functions; without it, each write
    /// transaction starts with a logical message tag instead (said once). Before PostgreSQL 16
    /// an origin is active in one session at a time: while another tool's session holds this
    /// agent's origin, this write is tagged instead. Returns whether the origin is set.
    private func useOrigin(_ cause: AgentCausation.Cause, on connection: PostgresConnection, session: Int) async -> Bool {
        let wanted = cause.origin
        guard !originRefused else { return false }
        guard sessions[session].origin != wanted else { return true }
        do {
            if sessions[session].origin != nil { try await connection.execute("SELECT pg_replication_origin_session_reset()") }
            sessions[session].origin = nil
            _ = try await connection.query("""
                SELECT pg_replication_origin_create($1) WHERE pg_replication_origin_oid($1) IS NULL
                """, parameters: [wanted])
            // Each transaction sets its own commit time (`once`), which needs this function too.
            let xact = try await connection.query("""
                SELECT has_function_privilege('pg_replication_origin_xact_setup(pg_lsn, timestamp with time zone)', 'EXECUTE')
                """)
            guard xact.rows.first?.first.flatMap({ $0 }) == "t" else { return refuseOrigins(sqlState: "42501") }
            _ = try await connection.query("SELECT pg_replication_origin_session_setup($1)", parameters: [wanted])
            sessions[session].origin = wanted
            return true
        } catch where error.sqlState == "55006" {
            return false  // in use by another session (object_in_use): a tag for this write
        } catch {
            return refuseOrigins(sqlState: error.sqlState)
        }
    }

    /// From now on this tool tags its writes instead of using origins; says so once.
    private func refuseOrigins(sqlState: String?) -> Bool {
        originRefused = true
        logger.notice("this tool's role may not use replication origins: its writes are tagged with a logical message instead (GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text), pg_replication_origin_oid(text), pg_replication_origin_session_setup(text), pg_replication_origin_session_reset(), pg_replication_origin_xact_setup(pg_lsn, timestamptz) to use origins)",
                      metadata: ["tool": "\(name)", "error.sqlstate": "\(sqlState ?? "-")"])
        return false
    }

    /// Runs `body` and records its receipt in one transaction, unless the key is recorded.
    private func once(_ connection: PostgresConnection, session: Int, key: String, _ invocation: ToolInvocation,
                      _ body: () async throws -> String) async throws -> Result<ToolReceipt, ToolError> {
        let usingOrigin = await useOrigin(invocation.cause, on: connection, session: session)
        try await connection.execute("BEGIN")
        if !usingOrigin {
            _ = try await connection.query("SELECT pg_logical_emit_message(true, $1, $2)", parameters: [AgentCausation.tagPrefix, invocation.cause.tag])
        }
        do {
            let claimed = try await connection.query("""
                INSERT INTO pgreflex.action_receipts (idempotency_key, tool, causation_id) VALUES ($1, $2, $3)
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1
                """, parameters: [key, name, invocation.causationID])
            guard !claimed.rows.isEmpty else {
                let earlier = try await connection.query("SELECT coalesce(result::text, 'null') FROM pgreflex.action_receipts WHERE idempotency_key = $1", parameters: [key])
                try await connection.execute("COMMIT")
                return .success(ToolReceipt(status: .alreadyDone, result: earlier.rows.first?.first.flatMap { $0 } ?? "null"))
            }
            let result = try await body()
            _ = try await connection.query("UPDATE pgreflex.action_receipts SET result = $2::jsonb WHERE idempotency_key = $1", parameters: [key, result])
            if usingOrigin {
                // A transaction under an origin commits with the origin's timestamp, and a session's
                // stays what it first was: without this every later change an agent wrote carried
                // the session's first commit time (issue 26). The origin LSN only feeds
                // pg_replication_origin_status, which nothing here reads.
                _ = try await connection.query("SELECT pg_replication_origin_xact_setup(pg_current_wal_insert_lsn(), clock_timestamp())")
            }
            try await connection.execute("COMMIT")
            return .success(ToolReceipt(status: .done, result: result))
        } catch {
            _ = try? await connection.execute("ROLLBACK")
            throw error
        }
    }

    /// The highest `$n` a statement uses: a compensation may use fewer of the arguments than
    /// the statement it undoes, and the server refuses parameters it cannot place.
    static func parameterCount(_ sql: String) -> Int {
        var highest = 0
        var rest = Substring(sql)
        while let dollar = rest.firstIndex(of: "$") {
            rest = rest[rest.index(after: dollar)...]
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            if let n = Int(digits) { highest = max(highest, n) }
            rest = rest.dropFirst(digits.count)
        }
        return highest
    }

    /// Protected, dropped or left as is, column by column, as capture treats a table's rows.
    func protected(_ result: PostgresConnection.QueryResult) -> PostgresConnection.QueryResult {
        guard let privacy, let policies = privacy.policies(schema: protectAs.schema, table: protectAs.name, columns: result.columns) else { return result }
        let kept = result.columns.indices.filter { policies[$0] != .drop }
        let rows = result.rows.map { row in
            kept.map { i -> String? in
                guard let value = row[i], let policy = policies[i] else { return row[i] }
                return Array(value.utf8).withUnsafeBufferPointer { privacy.protect($0, with: policy) }
            }
        }
        return PostgresConnection.QueryResult(columns: kept.map { result.columns[$0] }, rows: rows)
    }

    /// Rows as an array of objects, every value text or null.
    static func json(_ result: PostgresConnection.QueryResult) -> String {
        let rows = result.rows.map { row in
            Dictionary(uniqueKeysWithValues: zip(result.columns, row.map { value -> Any in value ?? NSNull() }))
        }
        return String(decoding: (try? JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])) ?? Data("[]".utf8), as: UTF8.self)
    }
}
