import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The reviewed schema registry, `Schemas/` in git: one JSON Schema per table version
/// (`Schemas/public.orders/v3.json`) and `Schemas/index.json` with each table's versions,
/// fingerprints and compatibility mode. Writing is deterministic: the same registry gives
/// byte-identical files.
///
/// A version the runtime records for a table under `schemas.on_new_version: hold` is *pending*
/// until `pgreflex schema accept`; index.json marks it `"pending": true`. Pending versions are
/// always the newest ones: accepting version n accepts every version before it.
public struct SchemaRegistry: Sendable {
    public struct Table: Sendable {
        public var compatibility: CompatibilityMode
        /// Oldest first; version n is `versions[n - 1]`.
        public var versions: [TableSchema]
        /// Versions 1 through `accepted` are accepted; later ones are pending.
        public var accepted: Int
        /// The version the stream was last seen on (by `run` or `schema snapshot`): the newest,
        /// unless the table went back to an earlier shape (a column dropped and added again).
        /// What routes are judged against.
        public var current: Int

        /// The versions waiting for `pgreflex schema accept`.
        public var pending: ClosedRange<Int>? { accepted < versions.count ? (accepted + 1)...versions.count : nil }
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
        for (name, entry) in try Self.readIndex(directory) {
            var schemas: [TableSchema] = []
            for (n, fingerprint) in entry.fingerprints.enumerated() {
                let file = directory + "/" + Self.fileName(name, version: n + 1)
                guard let bytes = FileManager.default.contents(atPath: file),
                      let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any]
                else { throw SchemaRegistryError(file: file, message: "is missing or not JSON: restore it from git") }
                let schema = try TableSchema(jsonSchema: object, qualifiedName: name, file: file)
                if let fingerprint, fingerprint != schema.fingerprint {
                    throw SchemaRegistryError(file: file, message: "its fingerprint is not the one index.json records: a version file was edited by hand")
                }
                schemas.append(schema)
            }
            tables[name] = Table(compatibility: entry.compatibility, versions: schemas, accepted: entry.accepted,
                                 current: entry.current ?? schemas.count)
        }
    }

    /// Each table's newest accepted version, from index.json alone (cheap enough to poll).
    public static func acceptedVersions(directory: String) throws -> [String: Int] {
        try readIndex(directory).mapValues(\.accepted)
    }

    private struct IndexEntry {
        var compatibility: CompatibilityMode
        /// Per version, oldest first.
        var fingerprints: [String?]
        var accepted: Int
        var current: Int?
    }

    /// `index.json`, as it is on disk.
    struct IndexFile: Codable {
        struct Table: Codable {
            var compatibility: String
            var versions: [Version]
            /// Written only when it is not the newest version, so a registry that never went
            /// back keeps its files as they were.
            var current: Int?
        }

        struct Version: Codable {
            var version: Int
            var fingerprint: String?
            var file: String
            var pending: Bool?
        }

        var format: Int
        var tables: [String: Table]
    }

    private static func readIndex(_ directory: String) throws -> [String: IndexEntry] {
        let indexPath = directory + "/" + indexName
        guard let data = FileManager.default.contents(atPath: indexPath) else { return [:] }
        guard let index = try? JSONDecoder().decode(IndexFile.self, from: data), index.format == 1 else {
            throw SchemaRegistryError(file: indexPath, message: "is not a pgreflex schema index (format 1): restore it from git")
        }
        var result: [String: IndexEntry] = [:]
        for (name, entry) in index.tables {
            guard let mode = CompatibilityMode(rawValue: entry.compatibility) else {
                throw SchemaRegistryError(file: indexPath, message: "\(name): unknown compatibility '\(entry.compatibility)'; use one of "
                    + CompatibilityMode.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let pending = entry.versions.map { $0.pending ?? false }
            let accepted = pending.firstIndex(of: true) ?? pending.count
            guard !pending[accepted...].contains(false) else {
                throw SchemaRegistryError(file: indexPath, message: "\(name): an accepted version follows a pending one; "
                    + "pending versions are the newest (use `pgreflex schema accept`, not an edit)")
            }
            if let current = entry.current, !(1...max(1, entry.versions.count)).contains(current) {
                throw SchemaRegistryError(file: indexPath, message: "\(name): current is \(current), not one of its versions (1 to \(entry.versions.count)); restore it from git")
            }
            result[name] = IndexEntry(compatibility: mode, fingerprints: entry.versions.map(\.fingerprint), accepted: accepted, current: entry.current)
        }
        return result
    }

    static func fileName(_ table: String, version: Int) -> String { "\(table)/v\(version).json" }

    /// The version of this shape, when registered.
    public func version(of schema: TableSchema) -> Int? {
        let fingerprint = schema.fingerprint
        guard let versions = tables[schema.qualifiedName]?.versions else { return nil }
        if let index = versions.lastIndex(where: { $0.fingerprint == fingerprint }) { return index + 1 }
        // A version written before shapes were recorded matches the same table without them: an
        // upgrade must not make a new version (and, under hold, hold the table) by itself.
        let withoutShapes = schema.withoutShapes.fingerprint
        return versions.lastIndex { $0.columns.allSatisfy { $0.shape == nil } && $0.fingerprint == withoutShapes }.map { $0 + 1 }
    }

    /// Registers a shape (a new table starts at version 1 under BACKWARD); returns its version
    /// and whether it is new. A shape seen before keeps its version. A new version is pending
    /// when asked, and also when the table already has pending versions: only
    /// `pgreflex schema accept` accepts those.
    @discardableResult
    public mutating func record(_ schema: TableSchema, pending: Bool = false) -> (version: Int, isNew: Bool) {
        if let known = version(of: schema) {
            // Matched a version written before shapes were recorded: record them in it now.
            if let table = tables[schema.qualifiedName], table.versions[known - 1].columns.allSatisfy({ $0.shape == nil }),
               schema.columns.contains(where: { $0.shape != nil }) {
                tables[schema.qualifiedName]!.versions[known - 1] = schema
            }
            tables[schema.qualifiedName]!.current = known
            return (known, false)
        }
        var table = tables[schema.qualifiedName] ?? Table(compatibility: .backward, versions: [], accepted: 0, current: 0)
        // A table's first version is registered, never held: a hold guards consumers against a
        // *change* from the shape they were written for, and a new table has no such shape.
        if (!pending || table.versions.isEmpty) && table.pending == nil { table.accepted = table.versions.count + 1 }
        table.versions.append(schema)
        table.current = table.versions.count
        tables[schema.qualifiedName] = table
        return (table.versions.count, true)
    }

    /// Accepts a table's pending versions through `version` (default: all of them); returns the
    /// versions accepted.
    public mutating func accept(table name: String, through version: Int? = nil) throws -> ClosedRange<Int> {
        guard var table = tables[name] else {
            throw SchemaRegistryError(file: directory, message: "\(name) is not in the registry: check the name (schema.table)")
        }
        guard let pending = table.pending else {
            throw SchemaRegistryError(file: directory, message: "\(name) has no pending version: every version through v\(table.versions.count) is accepted")
        }
        let through = version ?? pending.upperBound
        guard pending.contains(through) else {
            throw SchemaRegistryError(file: directory, message: "\(name) v\(through) is not pending; the pending versions are "
                + "v\(pending.lowerBound) through v\(pending.upperBound)")
        }
        table.accepted = through
        tables[name] = table
        return pending.lowerBound...through
    }

    /// Loads the registry, changes it, and saves it, holding an exclusive lock on the directory
    /// throughout: `run` recording a version and `schema accept` never lose each other's work.
    public static func update<Result>(directory: String, _ body: (inout SchemaRegistry) throws -> Result) throws -> Result {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SchemaRegistryError(file: directory, message: "cannot create the registry directory (\(error.localizedDescription))")
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SchemaRegistryError(file: directory, message: "cannot open the registry directory (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw SchemaRegistryError(file: directory, message: "cannot lock the registry directory (\(String(cString: strerror(errno))))") }
        var registry = try SchemaRegistry(directory: directory)
        let result = try body(&registry)
        try registry.save()
        return result
    }

    public mutating func setCompatibility(_ mode: CompatibilityMode, for table: String) {
        tables[table]?.compatibility = mode
    }

    /// Writes index.json and every version file.
    public func save() throws {
        var index = IndexFile(format: 1, tables: [:])
        for (name, table) in tables {
            for (n, schema) in table.versions.enumerated() {
                try write(Self.encode(schema.jsonSchema(version: n + 1)), to: directory + "/" + Self.fileName(name, version: n + 1))
            }
            index.tables[name] = IndexFile.Table(
                compatibility: table.compatibility.rawValue,
                versions: table.versions.enumerated().map { n, schema in
                    IndexFile.Version(version: n + 1, fingerprint: schema.fingerprint, file: Self.fileName(name, version: n + 1),
                                      pending: n >= table.accepted ? true : nil)
                },
                current: table.current == table.versions.count ? nil : table.current)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(index)
        data.append(UInt8(ascii: "\n"))
        try write(data, to: directory + "/" + Self.indexName)
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
