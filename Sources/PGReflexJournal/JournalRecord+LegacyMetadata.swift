import Foundation

extension JournalRecord {
    /// What the record is: its metadata, or, for a record of a format 1 journal (written before
    /// records carried metadata), the same read back from its envelope.
    public var resolvedMetadata: Metadata? { metadata ?? Metadata(legacyEnvelope: envelope) }
}

extension JournalRecord.Metadata {
    /// The metadata of a format 1 record, parsed from its envelope (the compatibility path only).
    init?(legacyEnvelope envelope: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(envelope)) as? [String: Any],
              let op = (object["op"] as? String)?.utf8.first
        else { return nil }
        let source = object["source"] as? [String: Any]
        let table = source.flatMap { s in (s["schema"] as? String).flatMap { schema in (s["table"] as? String).map { schema + "." + $0 } } }
        // The key is the envelope's last field: `,"key":…}` then the newline.
        var keyHash: UInt64 = 0
        let marker = Array(",\"key\":".utf8)
        if object["key"] is [String: Any], let at = envelope.lastRange(of: marker) {
            let end = envelope.endIndex - (envelope.last == UInt8(ascii: "\n") ? 2 : 1)
            if end > at.upperBound { keyHash = Self.keyHash(envelope[at.upperBound..<end]) }
        }
        self.init(table: op == UInt8(ascii: "m") ? "" : table ?? "", operation: op, schemaVersion: source?["schema_version"] as? Int,
                  xid: UInt32(truncatingIfNeeded: source?["txId"] as? Int ?? 0), commitTime: Int64(source?["ts_us"] as? Int ?? 0),
                  keyHash: keyHash)
    }

    /// For counting per table: `schema.table`, or `message` for logical messages.
    public var collection: String { table.isEmpty ? "message" : table }
}
