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

        public init(name: String, position: Int, type: String, typmod: Int32 = -1, nullable: Bool = true, hasDefault: Bool = false,
                    enumLabels: [String]? = nil, protection: String? = nil) {
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
    public var qualifiedName: String { "\(schema).\(table)" }

    public func column(named name: String) -> Column? { columns.first { $0.name == name } }
}
