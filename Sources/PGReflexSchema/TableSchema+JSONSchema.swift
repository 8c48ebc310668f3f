import Foundation

extension TableSchema {
    /// The value written for an unchanged TOASTed column (Debezium's, the default of
    /// `--unavailable-value-placeholder`): the version file allows it where values are not strings.
    public static let unavailablePlaceholder = "__debezium_unavailable_value"

    /// The JSON Schema (draft 2020-12) of this version's events: Debezium envelopes whose row
    /// images follow `$defs.row` (a key-only before image follows `$defs.identity`, which
    /// `$defs.row` extends with the NOT NULL columns), stamped with this version. The PostgreSQL details are under `x-pgreflex`, from which the
    /// registry reads the version back.
    func jsonSchema(version: Int) -> [String: Any] {
        var properties: [String: Any] = [:]
        for column in columns {
            var property = column.valueSchema
            property["x-pgreflex-type"] = column.type
            if let protection = column.protection { property["x-pgreflex-protection"] = protection }
            properties[column.name] = property
        }
        // Any subset of the columns: under the default replica identity a delete's before image
        // holds the identity columns only. A whole row image also holds every NOT NULL column.
        let identity: [String: Any] = ["type": "object", "properties": properties, "additionalProperties": false]
        let row: [String: Any] = ["$ref": "#/$defs/identity", "required": columns.filter { !$0.nullable }.map(\.name).sorted()]
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
                if column.volatileDefault { object["volatile_default"] = true }
                if let labels = column.enumLabels { object["enum_labels"] = labels }
                if let protection = column.protection { object["protection"] = protection }
                if let shape = column.shape { object["shape"] = shape.registryObject }
                return object
            },
        ]
        return [
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "pgreflex:\(qualifiedName):v\(version)",
            "title": "\(qualifiedName) v\(version)",
            "description": "An event of \(qualifiedName) at schema version \(version): a Debezium envelope whose row images follow $defs.row",
            "type": "object",
            "properties": [
                "before": ["anyOf": [["type": "null"], ["$ref": "#/$defs/row"], ["$ref": "#/$defs/identity"]]],
                "after": ["anyOf": [["type": "null"], ["$ref": "#/$defs/row"]]],
                "op": ["enum": ["c", "u", "d", "r", "t"]],
                "key": ["type": ["object", "null"]],
                "source": [
                    "type": "object",
                    "properties": ["schema": ["const": schema], "table": ["const": table], "schema_version": ["const": version]],
                    "required": ["schema", "table", "schema_version"],
                ] as [String: Any],
            ] as [String: Any],
            "required": ["before", "after", "op", "source"],
            "$defs": ["row": row, "identity": identity],
            "x-pgreflex": details,
        ]
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
                                 enumLabels: column["enum_labels"] as? [String], protection: column["protection"] as? String,
                                 shape: TypeShape(registry: column["shape"]), volatileDefault: column["volatile_default"] as? Bool ?? false))
        }
        self.init(schema: parts[0], table: parts[1], columns: parsed.sorted { $0.position < $1.position },
                  primaryKey: details["primary_key"] as? [String] ?? [], replicaIdentity: details["replica_identity"] as? String ?? "default")
    }
}

extension TableSchema {
    /// The JSON type pgreflex writes for a PostgreSQL type, by name, for columns whose shape a
    /// registry written before shapes were recorded does not hold; nil for any JSON.
    static func jsonType(of type: String) -> String? {
        if type.hasSuffix("[]") { return "array" }
        switch type {
        case "smallint", "integer", "bigint", "oid": return "integer"
        case "boolean": return "boolean"
        // real and double precision are numbers, or NaN and the infinities as strings; json is any JSON.
        case "real", "double precision", "json", "jsonb": return nil
        case "hstore", "public.hstore": return "object"
        default: return "string"
        }
    }
}

extension TableSchema.Column {
    /// The JSON Schema of the column's values, null included when the column is nullable.
    var valueSchema: [String: Any] {
        let values: [String: Any]
        if protection != nil {
            // A protected value is a string (a token, a pseudonym, a mask or a placeholder).
            values = ["type": "string"]
        } else if let shape {
            values = shape.jsonSchema(placeholder: TableSchema.unavailablePlaceholder)
        } else if let labels = enumLabels {
            values = ["enum": labels]
        } else if let type = TableSchema.jsonType(of: type) {
            values = ["type": type]
        } else {
            values = [:]
        }
        if !nullable || values.isEmpty { return values }
        return ["anyOf": [values, ["type": "null"]]]
    }
}
