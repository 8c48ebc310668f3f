/// A configuration mistake: the file, the line, and what to fix. Never echoes a DSN.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// 1-based, when known (the YAML node's, or inside an expression).
    public var column: Int? = nil
    public var message: String

    public init(file: String, line: Int?, column: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// Never: the file needs an edit.
    public var isRetryable: Bool { false }

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? "")\(line != nil ? column.map { ":\($0)" } ?? "" : ""): \(message)"
    }
}
