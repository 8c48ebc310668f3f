import Foundation
public import Logging
import PGReflexDelivery
import PGReflexJournal
public import PGReflexRouter
public import PGReflexSnapshot
import PGReflexState
public import PGReflexStatus
import PGReflexTransport
import PGReflexWire

#if canImport(Glibc)
import Glibc
#endif

/// What `pgreflex status` shows: the status file `run` writes each second, with what the state
/// store, the journal's cursors and the database say now laid over it. Reading changes nothing:
/// no store is created, and the database is asked, never told.
extension StatusReport {
    /// The status file in `stateDirectory`; an empty report when there is none.
    public static func load(stateDirectory: String) throws -> StatusReport {
        let path = stateDirectory + "/" + StatusReporter.fileName
        guard let data = FileManager.default.contents(atPath: path) else { return StatusReport() }
        do {
            return try JSONDecoder().decode(StatusReport.self, from: data)
        } catch {
            throw StatusFileError(path: path, reason: "\(error)")
        }
    }

    /// Whether the run that wrote the report is alive and writing: its pid exists and the file
    /// is fresh.
    public func isRunning(now: Int64) -> Bool {
        pid > 0 && kill(pid, 0) == 0 && now - generatedAt < 10_000_000
    }

    /// The dead-letter queue and the routes' cursors as the state store has them now; returns the
    /// snapshots worth showing (those not ended, then the last that ended).
    public mutating func overlayStore(stateDirectory: String, routes: [RouteSettings]) async throws -> [SnapshotJob] {
        guard let store = try SQLiteStateStore.openExisting(directory: stateDirectory) else { return [] }
        let jobs = try await store.snapshots()
        let snapshots = jobs.filter { !$0.state.isFinal } + (jobs.last { $0.state.isFinal }.map { [$0] } ?? [])
        guard !routes.isEmpty else { return snapshots }
        deadLetters = try await store.deadLetterCounts()
        for route in routes {
            var status = self.routes[route.name] ?? RouteStatus(agent: route.agent)
            if let cursor = try await store.cursor(route.consumerName) { status.position = cursor.commitLSN }
            self.routes[route.name] = status
        }
        return snapshots
    }

    /// File consumers' cursors from the journal, when no live figures are at hand.
    public mutating func overlayJournal(directory: String, running: Bool) {
        guard !running, let lags = try? JournalConsumer.lags(journal: directory) else { return }
        var byName = Dictionary(uniqueKeysWithValues: consumers.map { ($0.name, $0) })
        for lag in lags {
            byName[lag.name] = ConsumerStatus(name: lag.name, position: lag.position?.commitLSN.rawValue ?? 0, lagBytes: lag.behindBytes)
        }
        consumers = byName.values.sorted { $0.name < $1.name }
    }

    /// The slot as the database sees it: active, confirmed, retained WAL. An unreachable
    /// database is not fatal: returns a note saying so (with the error's code, never the DSN).
    public mutating func overlaySlot(dsn: String, slot slotName: String, logger: Logger) async -> String? {
        capture.slot = slotName
        guard !dsn.isEmpty else { return nil }
        do {
            let (found, health) = try await PostgresConnection.withConnection(dsn, mode: .sql, logger: logger) { session in
                (try await session.slot(named: slotName), try await session.slotHealth(named: slotName))
            }
            capture.slotExists = found != nil
            if let slot = found {
                capture.slotActive = slot.active
                if let confirmed = slot.confirmedFlushLSN { capture.progress.confirmedLSN = confirmed.rawValue }
                capture.slotWALStatus = slot.walStatus
            }
            if let health { capture.slotRetainedBytes = health.retainedBytes }
            return nil
        } catch {
            let code = (error as? PostgresError)?.code.rawValue ?? "error"
            return "could not reach the database for the slot's figures (\(code)); showing the last reported ones"
        }
    }
}

/// The status file is there but does not decode.
public struct StatusFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String {
        "\(path): the status file is not readable (\(reason)); it is rewritten each second while `pgreflex run` runs"
    }
}
