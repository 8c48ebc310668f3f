public import Logging
import PGReflexCapture
public import PGReflexConfig
import PGReflexRouter
public import PGReflexSnapshot
import PGReflexState
import PGReflexTransport
public import PGReflexWire

extension RunConfiguration {
    /// `snapshot start`: checks the request against this configuration (the tables are
    /// captured; the route exists, sees reads and matches the tables) and against the source
    /// (``SnapshotPreflight/problem(tables:condition:publication:dsn:logger:)``), then queues the
    /// job in the state store for a running `run`. `file` names the configuration in messages.
    public func queueSnapshot(tables names: [TableName], condition: String?, chunkSize: Int, route: String?, maxRowsPerSecond: Int?,
                              file: String, logger: Logger) async throws -> SnapshotJob {
        if !source.tables.isEmpty {
            for name in names where !source.tables.contains(name) {
                throw SnapshotRequestError(code: .notCaptured, message: "\(name) is not among source.tables in \(file): its changes are not captured, so a snapshot cannot be joined to them. Add it to source.tables")
            }
        }
        if let route {
            guard let settings = routes.first(where: { $0.name == route }) else {
                throw SnapshotRequestError(code: .noSuchRoute, message: "no route named \(route) in \(file); the routes are \(routes.map(\.name).joined(separator: ", "))")
            }
            if !settings.route.ops.isEmpty && !settings.route.ops.contains("r") {
                throw SnapshotRequestError(code: .routeSkipsReads, message: "route \(route) has ops [\(settings.route.ops.sorted().joined(separator: ", "))], which leave out r (snapshot reads): add r to its ops")
            }
            for name in names where !settings.route.tables.isEmpty && !settings.route.tables.contains(where: { $0.matches(name.description) }) {
                throw SnapshotRequestError(code: .routeMissesTable, message: "route \(route) does not match table \(name): its reads would all be filtered out. Add the table to the route's tables")
            }
        }
        if let problem = try await SnapshotPreflight.problem(tables: names, condition: condition, publication: source.publication,
                                                             dsn: source.dsn, logger: logger) {
            throw SnapshotRequestError(code: .source, message: problem)
        }
        return try await SQLiteStateStore(directory: stateDirectory).createSnapshot(SnapshotJob(
            kind: .incremental, tables: names.map(\.description), condition: condition, chunkSize: chunkSize, route: route,
            maxRowsPerSecond: maxRowsPerSecond, createdAt: 0))
    }
}

/// A snapshot request that cannot work: what is wrong and what to change. Never retryable: the
/// request, the configuration or the source needs an edit first.
public struct SnapshotRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        let name: String
        /// A table is not among `source.tables`.
        public static let notCaptured = Code(name: "not_captured")
        public static let noSuchRoute = Code(name: "no_such_route")
        /// The route's ops leave out `r`.
        public static let routeSkipsReads = Code(name: "route_skips_reads")
        public static let routeMissesTable = Code(name: "route_misses_table")
        /// The source: a table missing or unpublished, or a condition that is not valid SQL there.
        public static let source = Code(name: "source")
    }

    public var code: Code
    public var message: String
    public var isRetryable: Bool { false }
    public var description: String { message }
}
