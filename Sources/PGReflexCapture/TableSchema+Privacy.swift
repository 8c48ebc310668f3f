public import PGReflexPrivacy
public import PGReflexSchema

extension TableSchema {
    /// The shape events have once the privacy policy applies: dropped and unapproved columns
    /// gone, protected ones marked (they carry strings).
    public func protected(by policy: PrivacyPolicy?) -> TableSchema {
        guard let policy, let policies = policy.policies(schema: schema, table: table, columns: columns.map(\.name)) else { return self }
        var result = self
        result.columns = []
        for (column, protection) in zip(columns, policies) {
            var column = column
            switch protection {
            case nil: break
            case .drop?: continue
            case .hash?: column.protection = "hash"
            case .tokenize?: column.protection = "tokenize"
            case .mask?: column.protection = "mask"
            case .redact?: column.protection = "redact"
            }
            column.position = result.columns.count + 1
            result.columns.append(column)
        }
        result.primaryKey = primaryKey.filter { name in result.columns.contains { $0.name == name } }
        return result
    }
}
