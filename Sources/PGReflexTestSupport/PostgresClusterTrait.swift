public import Testing
import Synchronization

/// Gives a suite a throwaway database, created before its first test and removed after its last,
/// whether the tests pass, fail or throw. Tests read it from ``PostgresCluster/current``.
///
/// `.postgresCluster` is a database of the suite's own on a server that such suites share
/// (initdb and a start cost about a second each; most suites need nothing server-wide). Slots
/// are the server's: a suite's slot names must not be another suite's. `.ownPostgresCluster`
/// and `.postgresCluster(settings:)` give a server of the suite's own, for tests that stop or
/// restart it, change its settings, or count what is server-wide (roles, databases, every slot).
public struct PostgresClusterTrait: SuiteTrait, TestScoping {
    let settings: [String]
    let shared: Bool

    public var isRecursive: Bool { false }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let cluster = shared ? try PostgresCluster.SharedServer.database(for: test.name)
                             : try PostgresCluster.start(settings: settings)
        defer {
            cluster.destroy()
            if shared { PostgresCluster.SharedServer.release() }
        }
        try await PostgresCluster.$current.withValue(cluster) {
            try await function()
        }
    }
}

extension Trait where Self == PostgresClusterTrait {
    /// A database of this suite's own, on the server that suites with default settings share.
    public static var postgresCluster: Self { PostgresClusterTrait(settings: [], shared: true) }

    /// A throwaway server for this suite alone, with the default settings.
    public static var ownPostgresCluster: Self { PostgresClusterTrait(settings: [], shared: false) }

    /// A throwaway server for this suite alone, with `settings` appended to postgresql.conf.
    public static func postgresCluster(settings: [String]) -> Self { PostgresClusterTrait(settings: settings, shared: false) }
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

    /// The server that suites with default settings share: started by the first suite that
    /// needs it, destroyed when the last one using it is done (a later suite starts another).
    enum SharedServer {
        struct State {
            var server: PostgresCluster?
            var users = 0
            var databases = 0
        }

        static let state = Mutex(State())

        /// Starts the server if none runs, and creates a database named after the suite.
        static func database(for suite: String) throws -> PostgresCluster {
            let (server, number) = try state.withLock { state throws -> (PostgresCluster, Int) in
                let server = try state.server ?? PostgresCluster.start()
                state.server = server
                state.users += 1
                state.databases += 1
                return (server, state.databases)
            }
            let name = "t\(number)_" + String(suite.lowercased().filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(40))
            do {
                return try server.makeDatabase(name)
            } catch {
                release()
                throw error
            }
        }

        static func release() {
            let last: PostgresCluster? = state.withLock { state in
                state.users -= 1
                guard state.users == 0 else { return nil }
                defer { state.server = nil }
                return state.server
            }
            last?.destroy()
        }
    }
}
