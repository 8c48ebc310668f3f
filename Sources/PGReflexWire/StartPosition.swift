/// Where a consumer with no cursor starts in the journal (Kafka's `auto.offset.reset`).
public enum StartPosition: Sendable, Equatable, CustomStringConvertible {
    /// The journal's first event: everything it holds is delivered.
    case earliest
    /// The journal's end: only what is journaled from now on is delivered.
    case latest
    /// The first event of the transaction committed at this LSN, or the first after it.
    case lsn(LSN)

    /// `earliest`, `latest`, or an LSN (`X/Y`, or the decimal `source.lsn` of an event).
    public init?(parsing text: String) {
        switch text {
        case "earliest": self = .earliest
        case "latest": self = .latest
        default:
            if text.contains("/"), let lsn = LSN(text) {
                self = .lsn(lsn)
            } else if let value = UInt64(text) {
                self = .lsn(LSN(value))
            } else {
                return nil
            }
        }
    }

    public var description: String {
        switch self {
        case .earliest: "earliest"
        case .latest: "latest"
        case .lsn(let lsn): lsn.description
        }
    }
}
