/// An instant that moves only when a test says: state machines generic over a clock are tested
/// with it, so tests never sleep.
public struct TestInstant: InstantProtocol {
    public var offset: Duration

    public init(offset: Duration) {
        self.offset = offset
    }

    /// `seconds` after the test's origin.
    public static func at(_ seconds: Int) -> TestInstant { TestInstant(offset: .seconds(seconds)) }

    public func advanced(by duration: Duration) -> TestInstant { TestInstant(offset: offset + duration) }
    public func duration(to other: TestInstant) -> Duration { other.offset - offset }
    public static func < (a: TestInstant, b: TestInstant) -> Bool { a.offset < b.offset }
}
