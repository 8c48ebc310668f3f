/// An envelope read into expression values: JSON's types as CEL's (numbers whose value is whole
/// and fits in 64 bits as ints), numeric columns staying the strings the envelope writes them as.
extension CELValue {
    /// A Debezium envelope (one JSON line) as a route sees it: `event`, and `before`, `after`,
    /// `source`, `op` and `table` (`schema.table`) by themselves.
    public static func activation(envelope: some Collection<UInt8>) throws(CELJSONError) -> CELActivation {
        guard case .map(var event) = try CELJSONReader.value(of: envelope) else {
            throw CELJSONError(offset: 0, message: "an envelope is a JSON object")
        }
        if event["table"] == nil, case .map(let source)? = event["source"], case .string(let schema)? = source["schema"],
           case .string(let table)? = source["table"] {
            event["table"] = .string(schema + "." + table)
        }
        var activation: CELActivation = ["event": .map(event)]
        for name in ["before", "after", "source", "op", "table"] { activation[name] = event[name] ?? .null }
        return activation
    }
}
