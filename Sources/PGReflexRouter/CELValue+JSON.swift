import Foundation

/// An envelope read into expression values: JSON's types as CEL's (numbers without a fraction
/// as ints), numeric columns staying the strings the envelope writes them as.
extension CELValue: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let int = try? container.decode(Int64.self) {
            self = .int(int)
        } else if let double = try? container.decode(Double.self) {
            self = .double(double)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let list = try? container.decode([CELValue].self) {
            self = .list(list)
        } else {
            self = .map(try container.decode([String: CELValue].self))
        }
    }

    /// A Debezium envelope (one JSON line) as a route sees it: `event`, and `before`, `after`,
    /// `source`, `op` and `table` (`schema.table`) by themselves.
    public static func activation(envelope: some Collection<UInt8>) throws -> CELActivation {
        guard case .map(var event) = try JSONDecoder().decode(CELValue.self, from: Data(envelope)) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "an envelope is a JSON object"))
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
