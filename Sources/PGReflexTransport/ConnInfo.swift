import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// Checks of a conninfo string before connecting, without ever echoing it (it may hold a password).
enum ConnInfo {
    static func validate(_ conninfo: String) throws(PostgresError) {
        if conninfo.trimmingSpaces.isEmpty {
            throw PostgresError(
                code: .invalidConnInfo,
                message: "the connection string is empty. Pass --dsn 'host=HOST port=PORT dbname=DB user=USER' "
                    + "or a postgresql://USER@HOST:PORT/DB URI")
        }
        var error: UnsafeMutablePointer<CChar>?
        let options = PQconninfoParse(conninfo, &error)
        if let options {
            PQconninfoFree(options)
            return
        }
        let detail = error.map { PGConnection.trim(String(cString: $0)) } ?? "out of memory"
        if let error { PQfreemem(error) }
        throw PostgresError(
            code: .invalidConnInfo,
            message: "the connection string is malformed (\(detail)). Use key=value pairs such as "
                + "'host=/tmp port=5432 dbname=app user=app', or a postgresql://user@host:port/db URI")
    }

    static func withCStringArrays<R>(
        _ keywords: [String], _ values: [String],
        _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>) -> R
    ) -> R {
        let k = keywords.map { strdup($0) }
        let v = values.map { strdup($0) }
        defer {
            k.forEach { free($0) }
            v.forEach { free($0) }
        }
        let kp: [UnsafePointer<CChar>?] = k.map { UnsafePointer($0) } + [nil]
        let vp: [UnsafePointer<CChar>?] = v.map { UnsafePointer($0) } + [nil]
        return kp.withUnsafeBufferPointer { kb in vp.withUnsafeBufferPointer { vb in body(kb.baseAddress!, vb.baseAddress!) } }
    }
}

extension String {
    var trimmingSpaces: Substring {
        var s = self[...]
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return s
    }
}
