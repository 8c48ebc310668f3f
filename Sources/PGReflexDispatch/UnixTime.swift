/// An instant on the Unix time line, in microseconds: the events' own time (their commit
/// time), so that decisions made on it (windows, event age) come out the same on a replay.
public struct UnixTime: InstantProtocol, Sendable, Hashable, Comparable {
    public var microseconds: Int64

    public init(microseconds: Int64) {
        self.microseconds = microseconds
    }

    public func advanced(by duration: Duration) -> UnixTime {
        UnixTime(microseconds: microseconds + Self.micros(duration))
    }

    public func duration(to other: UnixTime) -> Duration {
        .microseconds(other.microseconds - microseconds)
    }

    public static func < (lhs: UnixTime, rhs: UnixTime) -> Bool { lhs.microseconds < rhs.microseconds }

    public static func micros(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
