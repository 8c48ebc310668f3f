import Foundation
public import Logging
import PGReflexDispatch
public import PGReflexPrivacy
public import PGReflexWire
import PGReflexTransport

/// `sql_query` (read) and `sql_exec` (write), and `emit` (a transactional logical message), on
/// one ordinary connection of their own, opened on first use and again after a failure.
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
    private var connection: PostgresConnection?
    /// The replication origin the session commits under (the loop guard's depth).
    private var origin: String?
    private var originRefused = false

    public nonisolated var effect: ToolEffect {
        if case .query = kind { return .read }
        return .write
    }

    public init(name: String, kind: Kind, parameters: [ToolParameter], dsn: String, privacy: PrivacyPolicy? = nil,
                protectAs: TableName? = nil, logger: Logger) {
        self.name = name
        self.privacy = privacy
        self.protectAs = protectAs ?? TableName(schema: "tools", name: name)
        self.kind = kind
        self.parameters = parameters
        self.dsn = dsn
        self.logger = logger
    }

    static let receiptsDDL = """
        CREATE SCHEMA IF NOT EXISTS pgreflex;
        CREATE TABLE IF NOT EXISTS pgreflex.action_receipts (
            idempotency_key text PRIMARY KEY,
            tool text NOT NULL,
            causation_id text NOT NULL,
            result jsonb,
            done_at timestamptz NOT NULL DEFAULT now()
        );
        """

    private func connected() async throws(ReplicationError) -> PostgresConnection {
        if let connection { return connection }
        let opened = try await PostgresConnection.connect(dsn, mode: .sql, applicationName: "pgreflex-tool", logger: logger)
        if effect == .write { try await opened.execute(Self.receiptsDDL) }
        connection = opened
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

    private func run(_ invocation: ToolInvocation, compensating: Bool) async -> Result<ToolReceipt, ToolError> {
        let values = invocation.values(for: parameters)
        do {
            let connection = try await connected()
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
                return try await once(connection, key: key, invocation) {
                    let sql = compensating ? undo ?? statement : statement
                    let result = try await connection.query(sql, parameters: Array(values.prefix(Self.parameterCount(sql))))
                    return #"{"rows":\#(result.rows.count)}"#
                }
            case .emit(let prefix):
                return try await once(connection, key: invocation.idempotencyKey, invocation) {
                    var content: [String: Any] = ["causation_id": invocation.causationID, "idempotency_key": invocation.idempotencyKey]
                    content["arguments"] = invocation.arguments.mapValues { $0.map { $0 as Any } ?? NSNull() }
                    let text = String(decoding: (try? JSONSerialization.data(withJSONObject: content, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
                    let result = try await connection.query("SELECT pg_logical_emit_message(true, $1, $2)::text", parameters: [prefix, text])
                    return #"{"lsn":"\#(result.rows.first?.first.flatMap { $0 } ?? "")"}"#
                }
            }
        } catch {
            connection = nil  // a failed session may be in any state: the next run opens a new one
            origin = nil
            guard let error = error as? ReplicationError else {
                return .failure(ToolError(code: .temporary, message: "tools.\(name): \(error)"))
            }
            return .failure(ToolError(code: error.isRetryable ? .temporary : .permanent, message: "tools.\(name): \(error.message)"))
        }
    }

    /// Commits this session's writes under the origin of `depth`, so capture can tell the
    /// change came from an agent, and how deep. Setting an origin needs superuser or a grant
    /// of the pg_replication_origin_* functions; without it the writes go out untagged (and a
    /// route cannot tell them from users' changes), which is said once.
    private func useOrigin(depth: Int, on connection: PostgresConnection) async {
        let wanted = AgentCausation.origin(depth: depth)
        guard origin != wanted, !originRefused else { return }
        do {
            if origin != nil { try await connection.execute("SELECT pg_replication_origin_session_reset()") }
            origin = nil
            _ = try await connection.query("""
                SELECT pg_replication_origin_create($1) WHERE pg_replication_origin_oid($1) IS NULL
                """, parameters: [wanted])
            _ = try await connection.query("SELECT pg_replication_origin_session_setup($1)", parameters: [wanted])
            origin = wanted
        } catch {
            originRefused = true
            logger.warning("cannot tag this tool's writes with a replication origin, so the loop guard cannot see them: run pgreflex's tools as a superuser, or GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text), pg_replication_origin_oid(text), pg_replication_origin_session_setup(text), pg_replication_origin_session_reset() to its role",
                           metadata: ["tool": "\(name)", "error": "\(error)"])
        }
    }

    /// Runs `body` and records its receipt in one transaction, unless the key is recorded.
    private func once(_ connection: PostgresConnection, key: String, _ invocation: ToolInvocation,
                      _ body: () async throws -> String) async throws -> Result<ToolReceipt, ToolError> {
        await useOrigin(depth: invocation.depth, on: connection)
        try await connection.execute("BEGIN")
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
            Dictionary(uniqueKeysWithValues: zip(result.columns, row.map { $0 as Any? ?? NSNull() }).map { ($0.0, $0.1 ?? NSNull()) })
        }
        return String(decoding: (try? JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])) ?? Data("[]".utf8), as: UTF8.self)
    }
}
