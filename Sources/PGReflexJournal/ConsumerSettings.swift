public import PGReflexWire
/// One named journal consumer, as configured: `sink:` is the consumer named `sink`, and each
/// entry of `consumers:` is another.
public struct ConsumerSettings: Sendable, Equatable {
    /// What a full journal does while this consumer lags (Sequin's `discard_on_full`).
    public enum OnJournalFull: String, Sendable, Equatable, CaseIterable {
        /// Capture stops reading the slot until this consumer catches up. Nothing is lost.
        case pause
        /// The size bound may remove records this consumer has not read; it skips them, and
        /// counts and logs what it skipped.
        case dropOldest = "drop_oldest"
    }

    /// Names the cursor file (`journal/consumers/<name>.json`) and the consumer in logs.
    public var name: String
    /// The file sink's path: each envelope as a JSON line.
    public var path: String
    /// Where a consumer without a cursor starts; nil: the run's `--if-no-checkpoint`.
    public var start: StartPosition?
    public var onJournalFull: OnJournalFull
    /// The configuration key of `path`, for error messages.
    public var pathSetting: String

    public init(name: String, path: String, start: StartPosition? = nil, onJournalFull: OnJournalFull = .pause,
                pathSetting: String = "sink.file.path") {
        self.name = name
        self.path = path
        self.start = start
        self.onJournalFull = onJournalFull
        self.pathSetting = pathSetting
    }

    /// Letters, digits, `_` and `-`: the name is a file name.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F || byte == 0x2D
        }
    }
}
