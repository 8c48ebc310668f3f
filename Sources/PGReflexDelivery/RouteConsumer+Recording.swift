import Logging
import PGReflexDispatch
import PGReflexJournal
import PGReflexWire

/// Moving the cursor with the outcomes, in one state-store transaction.
extension RouteConsumer {

    func commit() async throws {
        guard case .follow = mode else {
            guard !pending.isEmpty else { return }
            let changes = pending
            pending = StateCommit()
            try await store.commit(changes)
            return
        }
        guard !pending.isEmpty || cursorMoved else { return }
        var changes = pending
        pending = StateCommit()
        cursorMoved = false
        // Every call not yet recorded wrote (if at all) after the earliest mark taken before one.
        let mark = outstanding.values.compactMap(\.mark).min() ?? runtime.agent.receiptMark()
        changes.cursor = Self.storedCursor(settings.consumerName, watermark.confirmed, mark: mark)
        try await store.commit(changes)
        channel.update(settings.consumerName, .init(floor: watermark.confirmed, pausesCapture: true))
    }

    func wallMicros() -> Int64 {
        PostgresTimestamp.now().unixMicroseconds
    }
}
