import Foundation

/// The reviewed schema registry, `Schemas/` in git: one JSON Schema per table version
/// (`Schemas/public.orders/v3.json`) and `Schemas/index.json` with each table's versions,
/// fingerprints and compatibility mode. Writing is deterministic: the same registry gives
/// byte-identical files.
public struct SchemaRegistry: Sendable {
    public struct Table: Sendable {
        public var compatibility: CompatibilityMode
        /// Oldest first; version n is `versions[n - 1]`.
        public var versions: [TableSchema]
    }

    public let directory: String
    public private(set) var tables: [String: Table]

    public static let indexName = "index.json"

    /// An empty registry in memory, never saved.
    public init() {
        directory = ""
        tables = [:]
    }

    /// Loads the registry; a missing directory is an empty registry.
    public init(directory: String) throws {
        self.directory = directory
        tables = [:]
        let indexPath = directory + "/" + Self.indexName
        guard FileManager.default.fileExists(atPath: indexPath) else { return }
        guard let data = FileManager.default.contents(atPath: indexPath),
              let index = try? JSONSerialization.jsonObject(with: data) as? [String: Any], index["format"] as? Int == 1,
              let entries = index["tables"] as? [String: Any]
        else { throw SchemaRegistryError(file: indexPath, message: "is not a pgreflex schema index (format 1): restore it from git") }
        for (name, value) in entries {
            guard let entry = value as? [String: Any], let modeName = entry["compatibility"] as? String,
                  let versions = entry["versions"] as? [[String: Any]]
            else { throw SchemaRegistryError(file: indexPath, message: "the entry for \(name) lacks compatibility or versions") }
            guard let mode = CompatibilityMode(rawValue: modeName) else {
                throw SchemaRegistryError(file: indexPath, message: "\(name): unknown compatibility '\(modeName)'; use one of "
                    + CompatibilityMode.allCases.map(\.rawValue).joined(separator: ", "))
            }
            var schemas: [TableSchema] = []
            for (n, version) in versions.enumerated() {
                let file = directory + "/" + Self.fileName(name, version: n + 1)
                guard let bytes = FileManager.default.contents(atPath: file),
                      let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any]
                else { throw SchemaRegistryError(file: file, message: "is missing or not JSON: restore it from git") }
                let schema = try TableSchema(jsonSchema: object, qualifiedName: name, file: file)
                if let recorded = version["fingerprint"] as? String, recorded != schema.fingerprint {
                    throw SchemaRegistryError(file: file, message: "its fingerprint is not the one index.json records: a version file was edited by hand")
                }
                schemas.append(schema)
            }
            tables[name] = Table(compatibility: mode, versions: schemas)
        }
    }

    static func fileName(_ table: String, version: Int) -> String { "\(table)/v\(version).json" }

    /// The version of this shape, when registered.
    public func version(of schema: TableSchema) -> Int? {
        let fingerprint = schema.fingerprint
        return tables[schema.qualifiedName]?.versions.lastIndex { $0.fingerprint == fingerprint }.map { $0 + 1 }
    }

    /// Registers a shape (a new table starts at version 1 under BACKWARD); returns its version
    /// and whether it is new. A shape seen before keeps its version.
    @discardableResult
    public mutating func record(_ schema: TableSchema) -> (version: Int, isNew: Bool) {
        if let known = version(of: schema) { return (known, false) }
        var table = tables[schema.qualifiedName] ?? Table(compatibility: .backward, versions: [])
        table.versions.append(schema)
        tables[schema.qualifiedName] = table
        return (table.versions.count, true)
    }

    public mutating func setCompatibility(_ mode: CompatibilityMode, for table: String) {
        tables[table]?.compatibility = mode
    }

    /// Writes index.json and every version file.
    public func save() throws {
        var entries: [String: Any] = [:]
        for (name, table) in tables {
            for (n, schema) in table.versions.enumerated() {
                try write(Self.encode(schema.jsonSchema(version: n + 1)), to: directory + "/" + Self.fileName(name, version: n + 1))
            }
            entries[name] = [
                "compatibility": table.compatibility.rawValue,
                "versions": table.versions.enumerated().map { n, schema in
                    ["version": n + 1, "fingerprint": schema.fingerprint, "file": Self.fileName(name, version: n + 1)] as [String: Any]
                },
            ]
        }
        try write(Self.encode(["format": 1, "tables": entries]), to: directory + "/" + Self.indexName)
    }

    static func encode(_ object: [String: Any]) throws -> Data {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(UInt8(ascii: "\n"))
        return data
    }

    private func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            // Unchanged files are left alone, so their timestamps (and git) see no change.
            if FileManager.default.contents(atPath: path) == data { return }
            try data.write(to: url, options: .atomic)
        } catch {
            throw SchemaRegistryError(file: path, message: "cannot write (\(error.localizedDescription))")
        }
    }
}
