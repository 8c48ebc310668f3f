import PGReflexEnvelope
import PGReflexJournal
import PGReflexWire

extension JournalRecord.Metadata {
    /// An event's metadata, as `run` journals it. `key` is the key's JSON as written (after
    /// privacy): its hash partitions and orders by key without exposing it.
    init(_ event: ChangeEvent, key: ArraySlice<UInt8>?) {
        let hasKey = key.map { !$0.elementsEqual("null".utf8) } ?? false
        self.init(table: event.relation?.qualifiedName ?? "", operation: event.operation.rawValue,
                  schemaVersion: event.relation?.schemaVersion, xid: event.xid, commitTime: event.commitTime?.unixMicroseconds ?? 0,
                  keyHash: hasKey ? Self.keyHash(key!) : 0, route: event.route)
    }

}
