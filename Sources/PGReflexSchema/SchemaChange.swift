/// One difference between two versions of a table, and which way it is compatible.
///
/// BACKWARD: consumers built for the new version can read events of the old one.
/// FORWARD: consumers built for the old version can read events of the new one.
/// These are Confluent Schema Registry's definitions, and the field rules are Avro's, with a
/// nullable column counting as a field whose default is null. The rules, and where pgreflex's
/// type rules differ from Avro's and why, are in docs/schemas.md.
public struct SchemaChange: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case columnAdded = "column_added"
        case columnDropped = "column_dropped"
        case columnRenamed = "column_renamed"
        case typeWidened = "type_widened"
        case typeNarrowed = "type_narrowed"
        case typeChanged = "type_changed"
        case madeNullable = "made_nullable"
        case madeNotNull = "made_not_null"
        case enumValueAdded = "enum_value_added"
        case enumValueRemoved = "enum_value_removed"
        case attributeAdded = "attribute_added"
        case attributeDropped = "attribute_dropped"
        case attributeTypeChanged = "attribute_type_changed"
        case defaultChanged = "default_changed"
        case protectionChanged = "protection_changed"
        case primaryKeyChanged = "primary_key_changed"
        case replicaIdentityChanged = "replica_identity_changed"
        case tableDropped = "table_dropped"
    }

    public var table: String
    public var column: String?
    public var kind: Kind
    /// What changed, in words: `integer → bigint`.
    public var detail: String
    public var backwardCompatible: Bool
    public var forwardCompatible: Bool
    /// The rule that decides it, as the docs state it.
    public var rule: String

    public init(table: String, column: String?, kind: Kind, detail: String, backwardCompatible: Bool, forwardCompatible: Bool, rule: String) {
        self.table = table
        self.column = column
        self.kind = kind
        self.detail = detail
        self.backwardCompatible = backwardCompatible
        self.forwardCompatible = forwardCompatible
        self.rule = rule
    }
}

extension TableSchema {
    /// Every change from `old` to `self`.
    public func changes(since old: TableSchema) -> [SchemaChange] {
        let table = qualifiedName
        var changes: [SchemaChange] = []
        func add(_ column: String?, _ kind: SchemaChange.Kind, _ detail: String, backward: Bool, forward: Bool, _ rule: String) {
            changes.append(SchemaChange(table: table, column: column, kind: kind, detail: detail,
                                        backwardCompatible: backward, forwardCompatible: forward, rule: rule))
        }
        var added = columns.filter { old.column(named: $0.name) == nil }
        var dropped = old.columns.filter { column(named: $0.name) == nil }
        // A column that left and one that arrived at the same place with the same type: a rename,
        // judged as the drop and the add it is.
        for gone in dropped {
            if let index = added.firstIndex(where: { $0.position == gone.position && $0.type == gone.type }) {
                let new = added[index]
                add(gone.name, .columnRenamed, "\(gone.name) → \(new.name)", backward: Self.canAdd(new), forward: Self.canAdd(gone),
                    "a rename is a drop and an add: readers of the new name get null (or the default) for old events only if it is "
                        + "nullable or has a constant default, and readers of the old name likewise")
                added.remove(at: index)
                dropped.removeAll { $0.name == gone.name }
            }
        }
        for column in dropped {
            if column.nullable {
                add(column.name, .columnDropped, "\(column.name) \(column.type)", backward: true, forward: true,
                    "dropping a nullable column is compatible: new readers ignore it in old events, old readers take it as null")
            } else if Self.canAdd(column) {
                // The docs' reading of Avro: a NOT NULL column with a constant default is a field
                // with that default, which old readers fill in when new events lack it.
                add(column.name, .columnDropped, "\(column.name) \(column.type) NOT NULL DEFAULT …", backward: true, forward: true,
                    "dropping a NOT NULL column with a constant default is compatible: old readers take the default")
            } else {
                add(column.name, .columnDropped, "\(column.name) \(column.type) NOT NULL", backward: true, forward: false,
                    "dropping a NOT NULL column is backward-compatible only: readers of the old version require it")
            }
        }
        for column in added {
            if Self.canAdd(column) {
                add(column.name, .columnAdded, "\(column.name) \(column.type)\(column.nullable ? "" : " NOT NULL DEFAULT …")",
                    backward: true, forward: true, "adding a nullable column, or one with a constant default, is compatible")
            } else if column.hasDefault {
                add(column.name, .columnAdded, "\(column.name) \(column.type) NOT NULL with a volatile default", backward: false, forward: true,
                    "adding a NOT NULL column whose default is computed per row (now(), nextval(…)) is not backward-compatible: "
                        + "there is no one value to give old events")
            } else {
                add(column.name, .columnAdded, "\(column.name) \(column.type) NOT NULL without a default", backward: false, forward: true,
                    "adding a NOT NULL column without a default is not backward-compatible: old events have no value for it")
            }
        }
        for column in columns {
            guard let before = old.column(named: column.name) else { continue }
            if let move = Self.typeMove(from: before.type, to: column.type) {
                add(column.name, move.kind, "\(before.type) → \(column.type)", backward: move.backward, forward: move.forward, move.rule)
            }
            if before.type == column.type, let oldShape = before.shape?.resolved, let newShape = column.shape?.resolved {
                for difference in newShape.differences(from: oldShape, at: column.name, top: true) {
                    add(column.name, difference.kind, difference.detail, backward: difference.backward, forward: difference.forward,
                        difference.rule)
                }
            }
            if before.nullable != column.nullable {
                if column.nullable {
                    add(column.name, .madeNullable, "NOT NULL dropped", backward: true, forward: false,
                        "allowing NULL is backward-compatible only: old readers expect a value")
                } else {
                    add(column.name, .madeNotNull, "NOT NULL added", backward: false, forward: true,
                        "requiring a value is not backward-compatible: old events may hold NULL")
                }
            }
            if let oldLabels = before.enumLabels, let newLabels = column.enumLabels, before.type == column.type, oldLabels != newLabels {
                let gained = newLabels.filter { !oldLabels.contains($0) }
                let lost = oldLabels.filter { !newLabels.contains($0) }
                if !gained.isEmpty {
                    add(column.name, .enumValueAdded, "added \(gained.joined(separator: ", "))", backward: true, forward: false,
                        "an added enum value is backward-compatible only: old readers do not know it")
                }
                if !lost.isEmpty {
                    add(column.name, .enumValueRemoved, "removed \(lost.joined(separator: ", "))", backward: false, forward: true,
                        "a removed enum value is forward-compatible only: new readers do not know it")
                }
            }
            if before.protection != column.protection {
                add(column.name, .protectionChanged, "\(before.protection ?? "plain") → \(column.protection ?? "plain")",
                    backward: false, forward: false, "changing a column's privacy policy changes the values consumers see")
            }
            if before.hasDefault != column.hasDefault {
                add(column.name, .defaultChanged, column.hasDefault ? "default added" : "default dropped", backward: true, forward: true,
                    "defaults apply on the server; events carry values either way")
            }
        }
        if primaryKey != old.primaryKey {
            add(nil, .primaryKeyChanged, "(\(old.primaryKey.joined(separator: ", "))) → (\(primaryKey.joined(separator: ", ")))",
                backward: false, forward: false, "changing the primary key changes every event's key")
        }
        if replicaIdentity != old.replicaIdentity {
            add(nil, .replicaIdentityChanged, "\(old.replicaIdentity) → \(replicaIdentity)", backward: true, forward: true,
                "the replica identity decides how full before images are; the row shape is unchanged")
        }
        return changes
    }

    /// A type change's kind, compatibility and rule; nil when the type is the same.
    static func typeMove(from old: String, to new: String) -> (kind: SchemaChange.Kind, backward: Bool, forward: Bool, rule: String)? {
        switch relation(from: old, to: new) {
        case .same:
            nil
        case .widened:
            (.typeWidened, true, false, "widening a type is backward-compatible only: old readers cannot hold the wider values")
        case .narrowed:
            (.typeNarrowed, false, true, "narrowing a type is not backward-compatible: new readers cannot hold every old value")
        case .changed:
            (.typeChanged, false, false, "changing a type breaks consumers both ways")
        case .sameJSON(let why):
            (.typeChanged, true, true, why)
        }
    }

    /// Whether events written before `column` existed can be given a value for it.
    static func canAdd(_ column: Column) -> Bool { column.nullable || column.hasConstantDefault }

    enum TypeRelation: Equatable {
        case same, widened, narrowed, changed
        /// Different types whose values are the same JSON.
        case sameJSON(String)
    }

    /// How a column's type moved, by PostgreSQL's `format_type` names.
    static func relation(from old: String, to new: String) -> TypeRelation {
        if old == new { return .same }
        let embedded: Set = ["json", "jsonb"]
        if embedded.contains(old) && embedded.contains(new) {
            return .sameJSON("json and jsonb are both embedded as JSON: events carry the same values")
        }
        if old.hasSuffix("[]") && new.hasSuffix("[]") {
            return relation(from: String(old.dropLast(2)), to: String(new.dropLast(2)))
        }
        let integers = ["smallint": 1, "integer": 2, "bigint": 3]
        if let a = integers[old], let b = integers[new] { return a < b ? .widened : .narrowed }
        let floats = ["real": 1, "double precision": 2]
        if let a = floats[old], let b = floats[new] { return a < b ? .widened : .narrowed }
        // Lengths: nil is unbounded (varchar without n, or text).
        if let a = textLength(old), let b = textLength(new) {
            switch (a, b) {
            case (nil, nil): return .same
            case (_, nil): return .widened
            case (nil, _): return .narrowed
            case (let x?, let y?): return x < y ? .widened : .narrowed
            }
        }
        if let a = numeric(old), let b = numeric(new) {
            switch (a, b) {
            case (nil, nil): return .same
            case (_?, nil): return .widened
            case (nil, _?): return .narrowed
            case (let x?, let y?):
                // Avro's decimal needs the same scale; pgreflex writes decimals as exact strings,
                // which hold any scale, so only the integer digits (precision - scale) bound them.
                let (a, b) = (x.precision - x.scale, y.precision - y.scale)
                if a == b {
                    return .sameJSON("numeric values are written as exact decimal strings: a scale change keeps their JSON type")
                }
                return a < b ? .widened : .narrowed
            }
        }
        return .changed
    }

    /// `character varying(n)` → n; `character varying` and `text` → unbounded; else not text.
    private static func textLength(_ type: String) -> Int??  {
        if type == "text" || type == "character varying" { return .some(nil) }
        guard type.hasPrefix("character varying("), type.hasSuffix(")"),
              let n = Int(type.dropFirst("character varying(".count).dropLast()) else { return nil }
        return .some(n)
    }

    /// `numeric(p,s)` → (p, s); `numeric` → unconstrained; else not numeric.
    private static func numeric(_ type: String) -> (precision: Int, scale: Int)?? {
        if type == "numeric" { return .some(nil) }
        guard type.hasPrefix("numeric("), type.hasSuffix(")") else { return nil }
        let parts = type.dropFirst("numeric(".count).dropLast().split(separator: ",").compactMap { Int($0) }
        guard parts.count == 2 else { return nil }
        return .some((parts[0], parts[1]))
    }
}
