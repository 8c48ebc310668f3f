/// A trace that cannot be read, written or run, with what to do about it.
public struct TraceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The file or directory is not there or not readable.
        case unreadable = "trace_unreadable"
        /// A line is not what `trace record` writes.
        case malformed = "trace_malformed"
        /// The trace file could not be written.
        case unwritable = "trace_unwritable"
        /// The events asked for are not there (an id the journal no longer holds, an empty range).
        case noEvents = "trace_no_events"
    }

    public var code: Code
    public var message: String
    /// What went wrong underneath, when something did (an I/O error).
    public var underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// Never: each needs a fix to the file, the path or the range.
    public var isRetryable: Bool { false }

    public var description: String { message }

    public static func == (a: TraceError, b: TraceError) -> Bool { a.code == b.code && a.message == b.message }
}
