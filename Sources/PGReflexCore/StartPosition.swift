/// Where a reader with no saved position starts in the journal (Kafka's `auto.offset.reset`).
public enum StartPosition: String, Sendable, Equatable, CaseIterable {
    /// The journal's first event: everything it holds is delivered.
    case earliest
    /// The journal's end: only what is journaled from now on is delivered.
    case latest
}
