public import Testing

/// Gives a suite its own throwaway cluster, started before its first test and removed after
/// its last, whether the tests pass, fail or throw. Tests read it from ``PostgresCluster/current``.
public struct PostgresClusterTrait: SuiteTrait, TestScoping {
    let settings: [String]

    public var isRecursive: Bool { false }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let cluster = try PostgresCluster.start(settings: settings)
        defer { cluster.destroy() }
        try await PostgresCluster.$current.withValue(cluster) {
            try await function()
        }
    }
}

extension Trait where Self == PostgresClusterTrait {
    /// A throwaway PostgreSQL cluster for this suite.
    public static var postgresCluster: Self { PostgresClusterTrait(settings: []) }

    public static func postgresCluster(settings: [String]) -> Self { PostgresClusterTrait(settings: settings) }
}

extension PostgresCluster {
    @TaskLocal public static var current: PostgresCluster?

    /// The suite's cluster; fails the test clearly when the suite lacks `.postgresCluster`.
    public static func required() throws -> PostgresCluster {
        guard let current else {
            throw Failure(description: "this test needs a cluster: add .postgresCluster to its suite")
        }
        return current
    }
}
