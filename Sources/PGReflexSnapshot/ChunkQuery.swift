/// The one read-only statement each chunk runs: keyset pagination by primary key (never
/// OFFSET, so each chunk costs the same however far in), or a range of pages by ctid for a
/// table without one.
public enum ChunkQuery {
    /// `"name"` with embedded quotes doubled.
    public static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacing("\"", with: "\"\"") + "\""
    }

    /// `SELECT <columns> FROM <table> [WHERE (<key>) > ($1, …) AND (<condition>)] ORDER BY <key> LIMIT <limit>`;
    /// with `after` false, from the first key.
    public static func keyset(table: String, columns: [String], key: [String], condition: String?, after: Bool, limit: Int) -> String {
        var filters: [String] = []
        if after {
            let placeholders = (1...key.count).map { "$\($0)" }
            filters.append("(\(key.map(quote).joined(separator: ", "))) > (\(placeholders.joined(separator: ", ")))")
        }
        if let condition { filters.append("(\(condition))") }
        return "SELECT \(columns.map(quote).joined(separator: ", ")) FROM \(table)"
            + (filters.isEmpty ? "" : " WHERE " + filters.joined(separator: " AND "))
            + " ORDER BY \(key.map(quote).joined(separator: ", ")) LIMIT \(limit)"
    }

    /// Rows in pages `from ..< from + count`, in ctid order (a TID range scan).
    public static func pages(table: String, columns: [String], condition: String?, from: Int, count: Int) -> String {
        var filters = ["ctid >= '(\(from),0)'::tid", "ctid < '(\(from + count),0)'::tid"]
        if let condition { filters.append("(\(condition))") }
        return "SELECT \(columns.map(quote).joined(separator: ", ")) FROM \(table) WHERE \(filters.joined(separator: " AND ")) ORDER BY ctid"
    }

    /// `"schema"."table"`.
    public static func qualified(schema: String, name: String) -> String {
        quote(schema) + "." + quote(name)
    }
}
