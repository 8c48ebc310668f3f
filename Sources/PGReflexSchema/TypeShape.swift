/// A column's type resolved through domains, arrays and composites down to base types: what
/// its JSON values look like (docs/types.md), and what the fingerprint and the compatibility
/// rules see beyond the column's own type name (an enum used through an array, a composite's
/// attributes).
public indirect enum TypeShape: Sendable, Equatable {
    /// A base type, by `format_type` name, and the JSON it is written as.
    case base(String, JSONForm)
    case enumeration(String, labels: [String])
    case array(TypeShape)
    case composite(String, attributes: [Attribute])
    case domain(String, TypeShape)

    public struct Attribute: Sendable, Equatable {
        public var name: String
        public var shape: TypeShape

        public init(name: String, shape: TypeShape) {
            self.name = name
            self.shape = shape
        }
    }

    /// The JSON a base type is written as, under the default decimal handling (strings).
    public enum JSONForm: String, Sendable, Equatable, CaseIterable {
        case integer
        /// real, double precision: a number, or "NaN", "Infinity", "-Infinity" as strings.
        case number
        /// numeric, money: the exact decimal as a string.
        case decimal
        case boolean
        /// json, jsonb, pgvector: embedded as any JSON.
        case json
        /// hstore: an object of strings or nulls.
        case object
        case string
    }

    /// The shape without domains, which consumers never see.
    public var resolved: TypeShape {
        switch self {
        case .domain(_, let base): base.resolved
        case .array(let element): .array(element.resolved)
        case .composite(let name, let attributes):
            .composite(name, attributes: attributes.map { Attribute(name: $0.name, shape: $0.shape.resolved) })
        default: self
        }
    }

    /// Whether anything below the top holds what the column's type name and its own enum labels
    /// do not show: an enum used through an array or a domain, or a composite's attributes.
    /// Only then does the shape count in the fingerprint, so a plain column's fingerprint is
    /// the same as before shapes were recorded.
    public var isIndirect: Bool {
        switch self {
        case .base, .enumeration: false
        case .array(let element), .domain(_, let element): element.holdsUserType
        case .composite: true
        }
    }

    private var holdsUserType: Bool {
        switch self {
        case .base: false
        case .enumeration, .composite: true
        case .array(let element), .domain(_, let element): element.holdsUserType
        }
    }

    /// A canonical text for the fingerprint: `mood{sad,ok}[]`, `addr(street:text,city:text)`.
    public var canonical: String {
        switch self {
        case .base(let name, _): name
        case .enumeration(let name, let labels): "\(name){\(labels.joined(separator: ","))}"
        case .array(let element): element.canonical + "[]"
        case .composite(let name, let attributes): "\(name)(\(attributes.map { "\($0.name):\($0.shape.canonical)" }.joined(separator: ",")))"
        case .domain(let name, let base): "\(name):\(base.canonical)"
        }
    }

    /// The type's name as `format_type` would print it.
    public var name: String {
        switch self {
        case .base(let name, _), .enumeration(let name, _), .composite(let name, _), .domain(let name, _): name
        case .array(let element): element.name + "[]"
        }
    }
}

extension TypeShape {
    /// The registry's form (`x-pgreflex.columns[].shape`), read back by ``init(registry:)``.
    var registryObject: [String: Any] {
        switch self {
        case .base(let name, let form): ["base": name, "json": form.rawValue]
        case .enumeration(let name, let labels): ["enum": name, "labels": labels]
        case .array(let element): ["array": element.registryObject]
        case .composite(let name, let attributes):
            ["composite": name, "attributes": attributes.map { ["name": $0.name, "shape": $0.shape.registryObject] as [String: Any] }]
        case .domain(let name, let base): ["domain": name, "over": base.registryObject]
        }
    }

    init?(registry object: Any?) {
        guard let object = object as? [String: Any] else { return nil }
        if let name = object["base"] as? String, let form = (object["json"] as? String).flatMap(JSONForm.init(rawValue:)) {
            self = .base(name, form)
        } else if let name = object["enum"] as? String, let labels = object["labels"] as? [String] {
            self = .enumeration(name, labels: labels)
        } else if let element = TypeShape(registry: object["array"]) {
            self = .array(element)
        } else if let name = object["composite"] as? String, let list = object["attributes"] as? [[String: Any]] {
            var attributes: [Attribute] = []
            for entry in list {
                guard let attribute = entry["name"] as? String, let shape = TypeShape(registry: entry["shape"]) else { return nil }
                attributes.append(Attribute(name: attribute, shape: shape))
            }
            self = .composite(name, attributes: attributes)
        } else if let name = object["domain"] as? String, let base = TypeShape(registry: object["over"]) {
            self = .domain(name, base)
        } else {
            return nil
        }
    }

    /// The JSON Schema of the values pgreflex writes for this type (docs/types.md), without null.
    /// `placeholder`: the value written for an unchanged TOASTed column, allowed where the
    /// type's values are not strings already.
    func jsonSchema(placeholder: String) -> [String: Any] {
        switch self {
        case .domain(_, let base):
            return base.jsonSchema(placeholder: placeholder)
        case .base(_, .integer):
            return ["type": "integer"]
        case .base(_, .number):
            // JSON has no NaN or infinities: pgreflex writes them as strings.
            return ["anyOf": [["type": "number"], ["enum": ["NaN", "Infinity", "-Infinity"]]]]
        case .base(_, .decimal), .base(_, .string):
            return ["type": "string"]
        case .base(_, .boolean):
            return ["type": "boolean"]
        case .base(_, .json):
            return [:]
        case .base(_, .object):
            return Self.orPlaceholder(["type": "object", "additionalProperties": ["type": ["string", "null"]]], placeholder)
        case .enumeration(_, let labels):
            return ["enum": labels]
        case .array(let element):
            // Elements may be NULL; a multidimensional array nests arrays.
            let items: [String: Any] = ["anyOf": [element.jsonSchema(placeholder: placeholder), ["type": "null"], ["type": "array"]]]
            return Self.orPlaceholder(["type": "array", "items": items], placeholder)
        case .composite(_, let attributes):
            var properties: [String: Any] = [:]
            for attribute in attributes {
                properties[attribute.name] = ["anyOf": [attribute.shape.jsonSchema(placeholder: placeholder), ["type": "null"]]]
            }
            return Self.orPlaceholder(["type": "object", "properties": properties, "additionalProperties": false], placeholder)
        }
    }

    private static func orPlaceholder(_ schema: [String: Any], _ placeholder: String) -> [String: Any] {
        ["anyOf": [schema, ["const": placeholder]]]
    }
}

extension TypeShape {
    /// A change inside a column's type, at a path such as `tags[]` or `home.city`.
    struct Difference {
        var kind: SchemaChange.Kind
        var detail: String
        var backward: Bool
        var forward: Bool
        var rule: String
    }

    /// What changed from `old` to `self` below a column whose type name stayed the same.
    /// `top`: the column itself, whose own enum labels the column rules already compare.
    func differences(from old: TypeShape, at path: String, top: Bool) -> [Difference] {
        switch (old, self) {
        case (.enumeration(_, let before), .enumeration(_, let after)) where !top && before != after:
            var found: [Difference] = []
            let gained = after.filter { !before.contains($0) }
            let lost = before.filter { !after.contains($0) }
            if !gained.isEmpty {
                found.append(Difference(kind: .enumValueAdded, detail: "\(path): added \(gained.joined(separator: ", "))",
                                        backward: true, forward: false,
                                        rule: "an added enum value is backward-compatible only: old readers do not know it"))
            }
            if !lost.isEmpty {
                found.append(Difference(kind: .enumValueRemoved, detail: "\(path): removed \(lost.joined(separator: ", "))",
                                        backward: false, forward: true,
                                        rule: "a removed enum value is forward-compatible only: new readers do not know it"))
            }
            return found
        case (.array(let before), .array(let after)):
            return after.differences(from: before, at: path + "[]", top: false)
        case (.composite(_, let before), .composite(_, let after)):
            var found: [Difference] = []
            for attribute in after where !before.contains(where: { $0.name == attribute.name }) {
                found.append(Difference(kind: .attributeAdded, detail: "\(path).\(attribute.name) \(attribute.shape.name)",
                                        backward: true, forward: true,
                                        rule: "a composite's attributes are nullable: an added one is null in old events, and old readers ignore it"))
            }
            for attribute in before where !after.contains(where: { $0.name == attribute.name }) {
                found.append(Difference(kind: .attributeDropped, detail: "\(path).\(attribute.name) \(attribute.shape.name)",
                                        backward: true, forward: true,
                                        rule: "a composite's attributes are nullable: new readers ignore a dropped one, old readers take it as null"))
            }
            for attribute in after {
                guard let previous = before.first(where: { $0.name == attribute.name }) else { continue }
                let place = "\(path).\(attribute.name)"
                if let move = TableSchema.typeMove(from: previous.shape.name, to: attribute.shape.name) {
                    found.append(Difference(kind: .attributeTypeChanged, detail: "\(place): \(previous.shape.name) → \(attribute.shape.name)",
                                            backward: move.backward, forward: move.forward, rule: move.rule))
                } else {
                    found += attribute.shape.differences(from: previous.shape, at: place, top: false)
                }
            }
            return found
        default:
            return []
        }
    }
}
