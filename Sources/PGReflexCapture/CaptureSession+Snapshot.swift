import PGReflexEnvelope
import PGReflexSnapshot
import PGReflexWire

/// A chunk read by an incremental snapshot, waiting in the stream for its high watermark.
struct OpenChunk {
    var window: ChunkWindow
    let descriptor: RelationDescriptor
    let route: String?
    /// When the rows were read: their `source.ts_ms`.
    let readTime: PostgresTimestamp
    /// Rows the query returned (before any were dropped), and what progress moves to once
    /// they are durable.
    let read: Int
    let lastKey: [String?]?
    let nextPage: Int?
    let tableDone: Bool
}

/// A chunk whose window closed: its rows are in the output, to be made durable before the
/// snapshot's progress moves past them.
struct ClosedChunk {
    let chunk: OpenChunk
    let emitted: Int
    let dropped: Int
}

extension CaptureSession {
    /// A snapshot table's descriptor, made exactly as a streamed Relation's would be (catalog
    /// details, privacy, schema version).
    mutating func snapshotDescriptor(for relation: PgOutputMessage.Relation) async throws -> RelationDescriptor {
        try await describe(relation)
    }

    /// Writes snapshot reads as `op: "r"` events at `lsn`, numbered from `ordinal`.
    mutating func writeSnapshotRows<Rows: Sequence<TupleData>>(
        _ rows: Rows, descriptor: RelationDescriptor, lsn: LSN, ordinal: inout Int, readTime: PostgresTimestamp,
        marker: (TupleData) -> ChangeEvent.SnapshotMarker, route: String?
    ) throws {
        processing = .now()
        for row in rows {
            let event = ChangeEvent(operation: .read, lsn: lsn, xid: 0, commitTime: readTime, ordinal: ordinal, relation: descriptor,
                                    after: row, snapshot: marker(row), route: route)
            ordinal += 1
            try write(event)
        }
    }

    /// A streamed change while a chunk's window is open: a read of the same key is stale.
    mutating func observeForSnapshot(_ event: ChangeEvent) {
        guard var open = openChunk, let relation = event.relation, relation.relation.oid == open.window.relationOID else { return }
        let columns = relation.keyColumnIndexes
        if let after = event.after, let key = SnapshotKey(after, columns: columns) { open.window.observe(key) }
        if let before = event.before, let key = SnapshotKey(before, columns: columns) { open.window.observe(key) }
        openChunk = open
    }

    /// A watermark from the stream: the open window's high one emits its rows here, between
    /// the transactions that committed before it and those after. They sit at its commit LSN,
    /// which no journaled event has (the watermark's transaction is not journaled).
    mutating func handleWatermark(_ message: PgOutputMessage.LogicalMessage, committedAt commitLSN: LSN) throws {
        guard var open = openChunk, let watermark = Watermark(content: message.content.bytes) else { return }
        switch open.window.handle(watermark) {
        case .none:
            openChunk = open
        case .emit(let rows):
            openChunk = nil
            var ordinal = 0
            try writeSnapshotRows(rows.lazy.map { open.window.rows[$0] }, descriptor: open.descriptor, lsn: commitLSN == .invalid ? message.lsn : commitLSN, ordinal: &ordinal,
                                  readTime: open.readTime, marker: { _ in .incremental }, route: open.route)
            closedChunk = ClosedChunk(chunk: open, emitted: rows.count, dropped: open.window.droppedCount)
        }
    }
}
