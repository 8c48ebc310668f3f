import Crypto

extension TableSchema {
    /// A stable fingerprint of what consumers depend on: column names, types with typmod,
    /// nullability, defaults, enum labels (through arrays and domains too), composite
    /// attributes, the key and the replica identity. Column order does
    /// not count (events are JSON objects); a reordering alone is not a new version.
    public var fingerprint: String {
        var text = "pgreflex-schema-v1\n\(qualifiedName)\n"
        for column in columns.sorted(by: { $0.name < $1.name }) {
            text += "c\u{1F}\(column.name)\u{1F}\(column.type)\u{1F}\(column.typmod)\u{1F}\(column.nullable ? "null" : "notnull")"
            text += "\u{1F}\(column.hasDefault ? "default" : "-")\u{1F}\(column.enumLabels?.joined(separator: "\u{1E}") ?? "-")"
            text += column.protection.map { "\u{1F}protected:\($0)" } ?? ""
            // Only indirect shapes count, so plain columns keep the fingerprints they always had.
            if let shape = column.shape, shape.isIndirect { text += "\u{1F}shape:\(shape.canonical)" }
            text += "\n"
        }
        text += "pk\u{1F}\(primaryKey.joined(separator: "\u{1F}"))\nri\u{1F}\(replicaIdentity)\n"
        let digest = SHA256.hash(data: Array(text.utf8))
        return digest.prefix(16).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
