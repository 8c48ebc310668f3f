/// How a table's new version must relate to the ones before it, as in Confluent Schema Registry.
public enum CompatibilityMode: String, Sendable, CaseIterable {
    case backward = "BACKWARD"
    case backwardTransitive = "BACKWARD_TRANSITIVE"
    case forward = "FORWARD"
    case forwardTransitive = "FORWARD_TRANSITIVE"
    case full = "FULL"
    case fullTransitive = "FULL_TRANSITIVE"
    case none = "NONE"

    var checksBackward: Bool { [.backward, .backwardTransitive, .full, .fullTransitive].contains(self) }
    var checksForward: Bool { [.forward, .forwardTransitive, .full, .fullTransitive].contains(self) }
    /// Against every earlier version, not only the latest.
    var isTransitive: Bool { [.backwardTransitive, .forwardTransitive, .fullTransitive].contains(self) }

    /// The changes that break this mode, for `candidate` after the registered `versions`
    /// (oldest first), each with the version it breaks against.
    public func violations(of candidate: TableSchema, after versions: [TableSchema]) -> [(version: Int, change: SchemaChange)] {
        guard self != .none, !versions.isEmpty else { return [] }
        let against = isTransitive ? Array(versions.indices) : [versions.count - 1]
        var found: [(Int, SchemaChange)] = []
        for index in against {
            for change in candidate.changes(since: versions[index])
            where (checksBackward && !change.backwardCompatible) || (checksForward && !change.forwardCompatible) {
                found.append((index + 1, change))
            }
        }
        return found
    }
}
