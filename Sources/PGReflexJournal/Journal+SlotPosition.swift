import Foundation
public import PGReflexWire

/// How far the slot may be confirmed without a change being lost, and what to say when it is
/// further: capture confirms past the journal's last transaction when the server has sent
/// nothing more (keepalives on an idle database), so the journal keeps the furthest such
/// position in `confirmed.json`, written before it is confirmed. A slot that starts past both
/// has skipped WAL this journal never saw: a recreated slot, or one another tool advanced.
extension Journal {
    static let confirmedFileName = "confirmed.json"

    private struct Confirmed: Codable {
        var version = 1
        var lsn: String
    }

    /// The furthest position confirmed past the journal's last transaction; nil before any.
    public static func confirmedThrough(directory: String) throws -> LSN? {
        let path = directory + "/" + confirmedFileName
        let corrupt = JournalError(code: .checkpointCorrupt, segment: path,
                                   message: "is not a pgreflex confirmed position: move it away (the next start then checks the slot against the journal's last transaction only)")
        guard let file = try AtomicFile.readJSON(Confirmed.self, from: path, corrupt: { corrupt }) else { return nil }
        guard file.version == 1, let lsn = LSN(file.lsn) else { throw corrupt }
        return lsn
    }

    /// Records `lsn` as confirmed (durably, before the slot hears of it); never moves back.
    public func recordConfirmed(_ lsn: LSN) throws {
        if let known = try Self.confirmedThrough(directory: options.directory), known >= lsn { return }
        try AtomicFile.writeJSON(Confirmed(lsn: lsn.description), to: options.directory + "/" + Self.confirmedFileName)
    }

    /// Everything before this was journaled or known to hold no change; nil for a journal with
    /// no `confirmed.json` yet (a new one, or one written before pgreflex kept it).
    public func resumeFloor() throws -> LSN? {
        guard let confirmed = try Self.confirmedThrough(directory: options.directory) else { return nil }
        return max(confirmed, durableTransactionEnd ?? confirmed)
    }

    /// Records that changes committed in `from..<to` were never captured (`run --accept-gap`),
    /// so that `journal inspect` and `replay` report it.
    public func recordWALGap(from: LSN, to: LSN) throws {
        var gaps = try JournalGap.load(directory: options.directory)
        gaps.append(JournalGap(walFrom: from, walTo: to, after: lastAppended))
        try JournalGap.save(gaps, directory: options.directory)
    }
}
