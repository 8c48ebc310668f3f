import CoreMetrics
import PGReflexEnvelope
import PGReflexStatus
import PGReflexWire

/// Capture's metrics: changes received per table and operation, and replication lag. Counted
/// locally per change and handed to swift-metrics once per batch, so a change costs a
/// dictionary increment, not a metrics call. Labels are table names and operations, never
/// values from rows.
struct CaptureMetrics {
    private struct Key: Hashable {
        var relation: UInt32
        var operation: UInt8
    }

    private var received = PendingCounters<Key>(label: "pgreflex_changes_received_total")
    private var names: [Key: (table: String, op: String)] = [:]
    private let lagBytes = Gauge(label: "pgreflex_replication_lag_bytes")
    private let lagSeconds = Gauge(label: "pgreflex_replication_lag_seconds")

    /// Off without a metrics backend: a change then costs nothing here.
    let enabled: Bool

    init(enabled: Bool) {
        self.enabled = enabled
    }

    mutating func received(_ event: ChangeEvent) {
        guard enabled else { return }
        let key = Key(relation: event.relation?.relation.oid ?? 0, operation: event.operation.rawValue)
        if names[key] == nil {
            names[key] = (event.relation?.qualifiedName ?? "", String(UnicodeScalar(event.operation.rawValue)))
        }
        received.add(key)
    }

    mutating func publish(_ progress: CaptureProgress, now: Int64) {
        guard enabled else { return }
        let names = self.names
        received.flush { key in [("table", names[key]!.table), ("op", names[key]!.op)] }
        lagBytes.record(Double(progress.lagBytes))
        lagSeconds.record(progress.lagSeconds(now: now))
    }
}
