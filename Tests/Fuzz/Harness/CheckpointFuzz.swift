#if DEBUG
import Foundation
@testable import PGReflexJournal

/// A consumer's cursor file, the confirmed-position file and the gap list, as found on disk:
/// each loads, or is a `JournalError` saying to move it away; a cursor that loads saves and
/// loads back the same.
enum CheckpointFuzz {
    static func run(_ bytes: [UInt8]) {
        defer { Scratch.clear() }
        let path = Scratch.write(bytes, "cursor.json")
        do {
            if let checkpoint = try Checkpoint.load(path) {
                let copy = Scratch.directory + "/copy.json"
                try checkpoint.save(copy)
                let again = try Checkpoint.load(copy)
                require(again == checkpoint, "a cursor does not survive save and load")
            }
        } catch is JournalError {
        } catch {
            require(false, "\(type(of: error)) escaped the cursor loader: \(error)")
        }
        _ = Scratch.write(bytes, Journal.confirmedFileName)
        _ = Scratch.write(bytes, JournalGap.fileName)
        do {
            _ = try Journal.confirmedThrough(directory: Scratch.directory)
        } catch is JournalError {
        } catch {
            require(false, "\(type(of: error)) escaped the confirmed-position loader: \(error)")
        }
        do {
            _ = try JournalGap.load(directory: Scratch.directory)
        } catch is JournalError {
        } catch {
            require(false, "\(type(of: error)) escaped the gap-list loader: \(error)")
        }
    }
}
#endif
