import Foundation
import PGReflexJournal
import PGReflexWire

/// Records and directories the journal tests share: record `i` is the `i % 4`th event of
/// transaction `i / 4`, and the fourth ends it.
enum JournalFixture {
    static func directory() -> String {
        NSTemporaryDirectory() + "pgreflex-journal-\(UUID().uuidString)"
    }

    static func record(_ i: Int) -> JournalRecord {
        JournalRecord(position: EventPosition(commitLSN: LSN(UInt64(10_000 + i / 4 * 100)), ordinal: i % 4),
                      transactionEnd: i % 4 == 3 ? LSN(UInt64(10_050 + i / 4 * 100)) : nil,
                      envelope: Array("{\"i\":\(i),\"pad\":\"\(String(repeating: "p", count: 64))\"}".utf8))
    }
}
