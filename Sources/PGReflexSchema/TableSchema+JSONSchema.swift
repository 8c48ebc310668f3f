import Foundation

extension TableSchema {
    /// The JSON Schema (draft 2020-12) of this version's row images, with the PostgreSQL details
    /// under `x-pgreflex`, from which the registry reads the version back.
    func jsonSchema(version: Int) -> [String: Any] {
        var properties: [String: Any] = [:]
        for column in columns {
            var property: [String: Any] = ["x-pgreflex-type": column.type]
            // A protected value is a string (a token, a pseudonym, a mask or a placeholder).
            if let type = column.protection == nil ? Self.jsonType(of: column.type) : "string" {
                property["type"] = column.nullable ? [type, "null"] : type
            }
            if let protection = column.protection {
                property["x-pgreflex-protection"] = protection
            } else if let labels = column.enumLabels {
                property["enum"] = labels + (column.nullable ? [NSNull()] : [])
            }
            properties[column.name] = property
        }
        let details: [String: Any] = [
            "version": version,
            "fingerprint": fingerprint,
            "primary_key": primaryKey,
            "replica_identity": replicaIdentity,
            "columns": columns.map { column -> [String: Any] in
                var object: [String: Any] = [
                    "name": column.name, "position": column.position, "type": column.type, "typmod": Int(column.typmod),
                    "nullable": column.nullable, "has_default": column.hasDefault,
                ]
                if let labels = column.enumLabels { object["enum_labels"] = labels }
                if let protection = column.protection { object["protection"] = protection }
                return object
            },
        ]
        return [
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "pgreflex:\(qualifiedName):v\(version)",
            "title": "\(qualifiedName) v\(version)",
            "type": "object",
            "properties": properties,
            "required": columns.filter { !$0.nullable }.map(\.name).sorted(),
            "additionalProperties": false,
            "x-pgreflex": details,
        ]
    }

    /// The JSON type pgreflex writes for a PostgreSQL type (docs/types.md), nil for any JSON.
    static func jsonType(of type: String) -> String? {
        if type.hasSuffix("[]") { return "array" }
        switch type {
        case "smallint", "integer", "bigint", "oid": return "integer"
        case "real", "double precision": return "number"
        case "boolean": return "boolean"
        case "json", "jsonb": return nil
        case "hstore", "public.hstore": return "object"
        default: return "string"
        }
    }

    /// Reads a version back from its JSON Schema file's `x-pgreflex` details.
    init(jsonSchema object: [String: Any], qualifiedName: String, file: String) throws {
        guard let details = object["x-pgreflex"] as? [String: Any], let columns = details["columns"] as? [[String: Any]] else {
            throw SchemaRegistryError(file: file, message: "has no x-pgreflex details: restore it from git, or run `pgreflex schema snapshot`")
        }
        let parts = qualifiedName.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw SchemaRegistryError(file: file, message: "'\(qualifiedName)' is not schema.table") }
        var parsed: [Column] = []
        for column in columns {
            guard let name = column["name"] as? String, let position = column["position"] as? Int, let type = column["type"] as? String,
                  let nullable = column["nullable"] as? Bool
            else { throw SchemaRegistryError(file: file, message: "a column lacks name, position, type or nullable") }
            parsed.append(Column(name: name, position: position, type: type, typmod: Int32(column["typmod"] as? Int ?? -1),
                                 nullable: nullable, hasDefault: column["has_default"] as? Bool ?? false,
                                 enumLabels: column["enum_labels"] as? [String], protection: column["protection"] as? String))
        }
        self.init(schema: parts[0], table: parts[1], columns: parsed.sorted { $0.position < $1.position },
                  primaryKey: details["primary_key"] as? [String] ?? [], replicaIdentity: details["replica_identity"] as? String ?? "default")
    }
}
