/// What a route did with events beyond their done, skip and dead-letter records: each call
/// attempt (when it was read, started, how long it took, how it ended), and each flow-control
/// step that delays or folds events (debounced into a later event, kept in a window or out of
/// it, throttled, held for a schema version). `event show` and the status page's change pages
/// put an event's story together from these. Kept while the journal holds the events.
public struct RouteTrace: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// One attempt of a call; `events` are all the call's events.
        case attempt
        /// Attempts of calls of one event each, alike in all but their event: the same attempt
        /// number, start, duration and outcome, their key each event's id (a direct-lane pass
        /// calls a run of events at once). `events` lists them: a route records one line per
        /// pass, not per event.
        case attempts
        /// Superseded in a debounce: `detail` is the event that replaced it.
        case debounced
        /// Kept in an open window: `detail` is the window's key.
        case window
        /// Fell out of its window without completing it: `detail` is the window's key.
        case leftWindow = "left_window"
        /// Waited for the throttle: `detail` is when it may start (Unix microseconds).
        case throttled
        /// Held by a schema pin: `detail` is the held schema version.
        case held
        /// The agent's decision was recorded before its actions ran: `detail` names its number.
        case decided
    }

    public var route: String
    public var kind: Kind
    /// The events it concerns (a call's events in order; otherwise one).
    public var events: [String]
    /// When it happened (an attempt: when it started), Unix microseconds.
    public var at: Int64
    /// An attempt's number, from 1.
    public var attempt: Int
    /// When the route read the call's first event from the journal, Unix microseconds.
    public var readAt: Int64
    /// How long the attempt took, microseconds.
    public var micros: Int64
    /// An attempt's outcome: `succeeded`, `retrying`, `dead_lettered`, `deferred`, `failed` (the
    /// route stopped or the agent asked to pause; it runs again).
    public var outcome: String
    /// The call's idempotency key.
    public var key: String
    /// A failed attempt's error: its code and message.
    public var error: String
    public var detail: String
    /// Instead of `events` (an `.attempts` line of calls that succeeded): their events are those
    /// of these done records of the same commit. A route finishes thousands of calls a second,
    /// and a second copy of each id cost more than the rest of the trace.
    public var doneRange: Range<Int>?

    public init(route: String, kind: Kind, events: [String], at: Int64, attempt: Int = 0, readAt: Int64 = 0, micros: Int64 = 0,
                outcome: String = "", key: String = "", error: String = "", detail: String = "") {
        self.route = route
        self.kind = kind
        self.events = events
        self.at = at
        self.attempt = attempt
        self.readAt = readAt
        self.micros = micros
        self.outcome = outcome
        self.key = key
        self.error = error
        self.detail = detail
    }

    /// One line of tab-separated fields (tabs and line breaks in text become spaces): routes
    /// write them for every call, so it is built from bytes, not through a JSON encoder.
    /// `done`: the commit's done records, which `doneRange` names.
    func encode(into buffer: inout [UInt8], done: [DoneKey]) {
        func text(_ value: String) {
            for byte in value.utf8 { buffer.append(byte == 9 || byte == 10 || byte == 13 ? 32 : byte) }
            buffer.append(9)
        }
        func number(_ value: Int64) {
            if value < 0 { buffer.append(UInt8(ascii: "-")) }
            var magnitude = value.magnitude
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                         UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var count = 0
            withUnsafeMutableBytes(of: &digits) { raw in
                repeat {
                    raw[count] = UInt8(magnitude % 10) + 48
                    magnitude /= 10
                    count += 1
                } while magnitude > 0
                while count > 0 {
                    count -= 1
                    buffer.append(raw[count])
                }
            }
            buffer.append(9)
        }
        text(kind.rawValue)
        func id(_ index: Int, _ id: String) {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            // Event ids are hex and a dash (``EventID``): nothing to replace.
            buffer.append(contentsOf: id.utf8)
        }
        if let doneRange {
            for (index, key) in done[doneRange].enumerated() { id(index, key.eventID) }
        } else {
            for (index, event) in events.enumerated() { id(index, event) }
        }
        buffer.append(9)
        number(at)
        number(Int64(attempt))
        number(readAt)
        number(micros)
        text(outcome)
        text(key)
        text(error)
        for byte in detail.utf8 { buffer.append(byte == 9 || byte == 10 || byte == 13 ? 32 : byte) }
        buffer.append(10)
    }

    /// The lines of a stored blob; a line that is not one (a damaged file) is left out, never
    /// trusted or trapped on.
    static func decode(_ blob: some Collection<UInt8>, route: String) -> [RouteTrace] {
        blob.split(separator: 10).compactMap { line -> RouteTrace? in
            let fields = line.split(separator: 9, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard fields.count == 10, let kind = Kind(rawValue: fields[0]), let at = Int64(fields[2]), let attempt = Int(fields[3]),
                  let readAt = Int64(fields[4]), let micros = Int64(fields[5]) else { return nil }
            return RouteTrace(route: route, kind: kind, events: fields[1].split(separator: ",").map(String.init), at: at, attempt: attempt,
                              readAt: readAt, micros: micros, outcome: fields[6], key: fields[7], error: fields[8], detail: fields[9])
        }
    }
}
