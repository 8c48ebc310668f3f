import PGReflexDispatch
import PGReflexJournal
import PGReflexState

/// A route's windows (`window: {count, period, key}`) as they outlive restarts: an event that
/// enters an open window is kept in the state store (the cursor may pass it); when a window
/// fires, its earlier events stay in the store, filed under the firing event, until the call is
/// done. A restart before then reads the firing event again and fires the same call; it never
/// takes those events for the key's open window, and never counts one event twice.
struct RouteWindows {
    /// What adding an event did.
    enum Step {
        /// The window fired: a call for these events, the adding one last. The earlier ones go
        /// to the store under the firing event (`stored`).
        case fired([RoutedEvent], stored: [WindowEntry])
        /// It fired before a restart and its call did not finish: the same call again.
        case firedAgain([RoutedEvent])
        /// The window keeps it (`entry` goes to the store): the cursor may pass it.
        case kept(WindowEntry)
        /// Read again after a restart: a stored window (open, or fired and not yet finished)
        /// has it already.
        case duplicate
    }

    let route: String
    var window: SlidingWindow<UnixTime, RoutedEvent>
    /// Windows that fired before a restart and whose call had not finished: the earlier events,
    /// by the id of the event that fired them.
    var fired: [String: [RoutedEvent]] = [:]

    init(route: String, count: Int, period: Duration) {
        self.route = route
        window = SlidingWindow(count: count, period: period)
    }

    /// The entries the store kept; returns the events that fell out of their window meanwhile.
    mutating func restore(_ entries: [WindowEntry]) -> [RoutedEvent] {
        var expired: [RoutedEvent] = []
        for entry in entries {
            let event = RoutedEvent(position: nil, id: entry.eventID, table: entry.table, op: entry.op, commitTime: entry.at,
                                    envelope: entry.envelope, key: entry.key)
            if let firing = Self.firingEvent(ofStoredKey: entry.key) {
                fired[firing, default: []].append(event)
                continue
            }
            expired += window.add(event, key: entry.key, at: UnixTime(microseconds: entry.at)).expired
        }
        return expired
    }

    /// Adds an event (its position still set) to its key's window; also returns the events
    /// that fell out of their windows (each is handled).
    mutating func add(_ event: RoutedEvent, key: String) -> (Step, expired: [RoutedEvent]) {
        if let earlier = fired.removeValue(forKey: event.id) { return (.firedAgain(earlier + [event]), []) }
        if window.contains(key: key, where: { $0.id == event.id }) || fired.values.contains(where: { $0.contains { $0.id == event.id } }) {
            return (.duplicate, [])
        }
        // The window keeps it without a place in the journal: the store has it.
        var windowed = event
        windowed.position = nil
        let (events, expired) = window.add(windowed, key: key, at: UnixTime(microseconds: event.commitTime))
        guard var events else {
            return (.kept(WindowEntry(route: route, key: key, eventID: event.id, table: event.table, op: event.op,
                                      at: event.commitTime, envelope: event.envelope)), expired)
        }
        // The firing event is still after the cursor.
        events[events.count - 1].position = event.position
        let stored = events.dropLast().map {
            WindowEntry(route: route, key: Self.storedKey(firedBy: event.id), eventID: $0.id, table: $0.table, op: $0.op,
                        at: $0.commitTime, envelope: $0.envelope)
        }
        return (.fired(events, stored: stored), expired)
    }

    /// The events whose window can no longer complete at `wallNow`.
    mutating func prune(wallNow: Int64) -> [RoutedEvent] {
        window.prune(before: UnixTime(microseconds: wallNow))
    }

    var waiting: Int { window.waiting }

    /// The stored key of a fired window's earlier events: apart from every key a route's
    /// `window.key` can give (those never hold a control character before "fired:").
    static func storedKey(firedBy eventID: String) -> String { "\u{1}fired:" + eventID }

    static func firingEvent(ofStoredKey key: String) -> String? {
        key.hasPrefix("\u{1}fired:") ? String(key.dropFirst("\u{1}fired:".count)) : nil
    }
}
