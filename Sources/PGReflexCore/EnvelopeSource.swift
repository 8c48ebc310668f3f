import Foundation

/// The table and schema version of a journaled envelope, read back from its JSON. For the rare
/// paths that have only the bytes: `replay --dry-run`, and routing held tables' events again
/// (after a restart, or once their version is accepted). Live events carry their descriptor.
struct EnvelopeSource: Equatable {
    /// `schema.table`; nil for a logical message (or an envelope that does not parse).
    var table: String?
    var schemaVersion: Int?
    var isMessage = false

    init(parsing envelope: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(envelope)) as? [String: Any] else { return }
        if object["op"] as? String == "m" {
            isMessage = true
            return
        }
        guard let source = object["source"] as? [String: Any], let schema = source["schema"] as? String,
              let table = source["table"] as? String
        else { return }
        self.table = schema + "." + table
        schemaVersion = source["schema_version"] as? Int
    }

    /// For counting per table: `schema.table`, `message`, or `?`.
    var collection: String { table ?? (isMessage ? "message" : "?") }
}
