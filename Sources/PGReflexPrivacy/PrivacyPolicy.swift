import PGReflexWire

/// The privacy section of the configuration, resolved: which columns are protected and how,
/// which are not approved at all, and the keys. Applied to every row image (before and after)
/// and key as events are encoded, so no protected plaintext reaches the journal, a sink, a log
/// or an error.
public struct PrivacyPolicy: Sendable {
    public struct Rule: Sendable, Equatable {
        public var pattern: ColumnPattern
        public var policy: ColumnPolicy

        public init(pattern: ColumnPattern, policy: ColumnPolicy) {
            self.pattern = pattern
            self.policy = policy
        }
    }

    /// Approved columns of one table: only `include` (when set), never `exclude`.
    public struct ColumnFilter: Sendable, Equatable {
        public var include: Set<String>?
        public var exclude: Set<String>

        public init(include: Set<String>? = nil, exclude: Set<String> = []) {
            self.include = include
            self.exclude = exclude
        }

        func approves(_ column: String) -> Bool {
            !exclude.contains(column) && (include?.contains(column) ?? true)
        }
    }

    /// In order: the first rule whose pattern matches a column decides.
    public var rules: [Rule]
    /// By `schema.table`.
    public var columnFilters: [String: ColumnFilter]
    public var keyring: PrivacyKeyring?

    public init(rules: [Rule] = [], columnFilters: [String: ColumnFilter] = [:], keyring: PrivacyKeyring? = nil) {
        self.rules = rules
        self.columnFilters = columnFilters
        self.keyring = keyring
    }

    /// Whether any rule needs a key.
    public var needsKeys: Bool {
        rules.contains { $0.policy == .hash || $0.policy == .tokenize }
    }

    /// Each column's policy (nil: written as is); nil when nothing in the table is protected.
    public func policies(schema: String, table: String, columns: [String]) -> [ColumnPolicy?]? {
        let filter = columnFilters[TableName(schema: schema, name: table).description]
        let result = columns.map { column -> ColumnPolicy? in
            if let filter, !filter.approves(column) { return .drop }
            return rules.first { $0.pattern.matches(schema: schema, table: table, column: column) }?.policy
        }
        return result.contains { $0 != nil } ? result : nil
    }

    /// The protected form of a value (its text form, or raw bytes for binary columns).
    public func protect(_ value: UnsafeBufferPointer<UInt8>, with policy: ColumnPolicy) -> String {
        switch policy {
        case .hash:
            return keyring!.pseudonym(of: value)
        case .tokenize:
            return keyring!.token(of: value)
        case .mask(let rule):
            return rule.apply(value)
        case .redact(let placeholder):
            return placeholder
        case .drop:
            preconditionFailure("dropped columns are never written")
        }
    }
}
