/// A registry file that cannot be read or written, named, with what to do.
public struct SchemaRegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    /// Never: a registry that cannot be read or written needs a fix (a path, a restore from git).
    public var isRetryable: Bool { false }

    public var description: String { "schema_registry: \(file): \(message)" }
}
