import CLibPQ

#if canImport(Glibc)
import Glibc
#endif

/// One `PGresult`, owned: it is cleared exactly once, when the value goes away.
struct PGResult: ~Copyable {
    let handle: OpaquePointer

    init(_ handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        PQclear(handle)
    }

    var status: ExecStatusType { PQresultStatus(handle) }
    var rowCount: Int { Int(PQntuples(handle)) }
    var columnCount: Int { Int(PQnfields(handle)) }

    func value(row: Int, column: Int) -> String? {
        if PQgetisnull(handle, Int32(row), Int32(column)) != 0 { return nil }
        return String(cString: PQgetvalue(handle, Int32(row), Int32(column)))
    }

    func field(_ code: Character) -> String? {
        guard let value = PQresultErrorField(handle, Int32(code.asciiValue!)) else { return nil }
        return String(cString: value)
    }

    var sqlState: String? { field("C") }
    var primaryMessage: String? { field("M") }

    /// Rows a command touched (INSERT, UPDATE, DELETE), or returned.
    var affectedRows: Int { Int(String(cString: PQcmdTuples(handle))) ?? rowCount }

    var columnNames: [String] {
        (0..<columnCount).map { String(cString: PQfname(handle, Int32($0))) }
    }

    var rows: [[String?]] {
        (0..<rowCount).map { row in (0..<columnCount).map { value(row: row, column: $0) } }
    }
}

/// One `PGconn`. It is confined to a ``ReplicationConnection``'s thread: nothing else holds it.
final class PGConnection {
    let handle: OpaquePointer

    init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        PQfinish(handle)
    }

    var isOK: Bool { PQstatus(handle) == CONNECTION_OK }
    var errorMessage: String { Self.trim(String(cString: PQerrorMessage(handle))) }
    var serverVersion: Int { Int(PQserverVersion(handle)) }
    var user: String { PQuser(handle).map { String(cString: $0) } ?? "" }
    var database: String { PQdb(handle).map { String(cString: $0) } ?? "" }
    var host: String { PQhost(handle).map { String(cString: $0) } ?? "" }
    var port: String { PQport(handle).map { String(cString: $0) } ?? "" }

    /// Where this connection points, for messages: never includes a password.
    var endpoint: String { "\(user)@\(host):\(port)/\(database)" }

    func execute(_ sql: String) -> PGResult? {
        guard let result = PQexec(handle, sql) else { return nil }
        return PGResult(result)
    }

    /// One statement with text parameters (`$1`, `$2`, …): values never enter the SQL text.
    func execute(_ sql: String, parameters: [String?]) -> PGResult? {
        var owned = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { owned.forEach { free($0) } }
        let result = owned.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { values in
                PQexecParams(handle, sql, Int32(parameters.count), nil, values, nil, nil, 0)
            }
        }
        guard let result else { return nil }
        return PGResult(result)
    }

    func escapeLiteral(_ value: String) -> String {
        guard let escaped = PQescapeLiteral(handle, value, value.utf8.count) else {
            // Only fails on invalid encoding or out of memory; a quoted empty string is safe.
            return "''"
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    func escapeIdentifier(_ value: String) -> String {
        guard let escaped = PQescapeIdentifier(handle, value, value.utf8.count) else { return "\"\"" }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    static func trim(_ message: String) -> String {
        var message = message
        while let last = message.last, last.isWhitespace { message.removeLast() }
        return message
    }
}
