public import PGReflexWire

/// A table's shape as consumers of its events see it: what a Relation message says, plus what
/// only the catalog knows (nullability, defaults, enum labels, the primary key).
public struct TableSchema: Sendable, Equatable {
    public struct Column: Sendable, Equatable {
        public var name: String
        /// 1-based position among the live columns.
        public var position: Int
        /// `format_type(type, typmod)`: `integer`, `character varying(20)`, `numeric(10,2)`, `public.mood`.
        public var type: String
        public var typmod: Int32
        public var nullable: Bool
        public var hasDefault: Bool
        /// For enum types: the labels in sort order.
        public var enumLabels: [String]?
        /// The privacy policy applied to the column's values (`hash`, `tokenize`, `mask`, `redact`):
        /// events then carry a string, whatever the column's type.
        public var protection: String?
        /// The type resolved through domains, arrays and composites (nil: not known, as in
        /// registries written before shapes were recorded).
        public var shape: TypeShape?
        /// The default calls a volatile or stable function (`now()`, `nextval(…)`,
        /// `clock_timestamp()`): there is no one value to give events written before the column.
        public var volatileDefault: Bool

        public init(name: String, position: Int, type: String, typmod: Int32 = -1, nullable: Bool = true, hasDefault: Bool = false,
                    enumLabels: [String]? = nil, protection: String? = nil, shape: TypeShape? = nil, volatileDefault: Bool = false) {
            self.shape = shape
            self.volatileDefault = volatileDefault
            self.protection = protection
            self.name = name
            self.position = position
            self.type = type
            self.typmod = typmod
            self.nullable = nullable
            self.hasDefault = hasDefault
            self.enumLabels = enumLabels
        }
    }

    public var schema: String
    public var table: String
    public var columns: [Column]
    public var primaryKey: [String]
    /// `default`, `full`, `index` or `nothing`.
    public var replicaIdentity: String

    public init(schema: String, table: String, columns: [Column], primaryKey: [String] = [], replicaIdentity: String = "default") {
        self.schema = schema
        self.table = table
        self.columns = columns
        self.primaryKey = primaryKey
        self.replicaIdentity = replicaIdentity
    }

    /// `schema.table`.
    public var name: TableName { TableName(schema: schema, name: table) }
    public var qualifiedName: String { name.description }

    public func column(named name: String) -> Column? { columns.first { $0.name == name } }

    /// The same table as a registry written before shapes were recorded describes it.
    public var withoutShapes: TableSchema {
        var copy = self
        for index in copy.columns.indices { copy.columns[index].shape = nil }
        return copy
    }
}

extension TableSchema.Column {
    /// A default that gives one value to every event written before the column existed.
    public var hasConstantDefault: Bool { hasDefault && !volatileDefault }
}
