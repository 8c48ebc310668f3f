@testable import PGReflexCapture
import PGReflexEnvelope
import PGReflexJournal
import PGReflexWire
import Testing

/// Who caused each event, as capture journals it: an agent's origin, or the causation tag earlier
/// in the same transaction; whatever a tag holds, it is a cause, a tag without one, or nothing.
@Suite struct CausationTrackerTests {
    func change(_ commit: UInt64, origin: String? = nil) -> ChangeEvent {
        ChangeEvent(operation: .update, lsn: LSN(commit - 8), xid: 7, commitLSN: LSN(commit), origin: origin)
    }

    func tag(_ commit: UInt64, _ content: String) -> ChangeEvent {
        ChangeEvent(operation: .message, lsn: LSN(commit - 16), xid: 7, commitLSN: LSN(commit),
                    message: .init(flags: 1, lsn: LSN(commit - 16), prefix: "pgreflex.causation", content: ByteView(Array(content.utf8))))
    }

    @Test func originsAndTagsMarkTheirChangesAndNoOthers() {
        var tracker = CausationTracker()
        #expect(tracker.causation(change(100)) == .none)
        #expect(tracker.causation(change(100, origin: "pgreflex:2:fixer")) == .agent(depth: 2, agent: "fixer"))
        #expect(tracker.causation(change(100, origin: "replica-7")) == .none)
        #expect(tracker.causation(tag(200, #"{"agent":"notifier","depth":1}"#)) == .tag(depth: 1, agent: "notifier"))
        #expect(tracker.causation(change(200)) == .agent(depth: 1, agent: "notifier"), "the rest of the tag's transaction")
        #expect(tracker.causation(change(200, origin: "pgreflex:3:other")) == .agent(depth: 3, agent: "other"), "an origin says first")
        #expect(tracker.causation(change(300)) == .none, "the next transaction is not tagged")
    }

    @Test func aTagThatSaysNoCauseIsNobodysEventAndMarksNothing() {
        var tracker = CausationTracker()
        _ = tracker.causation(tag(200, #"{"agent":"notifier","depth":1}"#))
        #expect(tracker.causation(tag(200, "not json")) == .unreadableTag)
        #expect(tracker.causation(change(200)) == .none)
        #expect(tracker.causation(tag(400, #"{"agent":"a","depth":1.5}"#)) == .unreadableTag)
        #expect(tracker.causation(tag(400, #"{"agent":"a","depth":99999999999999999999}"#)) == .unreadableTag)
    }
}

extension CausationTracker {
    /// As the journaling output asks, for an event.
    mutating func causation(_ event: ChangeEvent) -> JournalRecord.Metadata.Causation {
        causation(commitLSN: event.commitLSN, origin: event.origin, message: event.message)
    }
}
