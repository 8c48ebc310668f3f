import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

/// Event ids: fixed-width hex that sorts in commit order, the same whether written into an
/// envelope or made a string.
@Suite struct EventIDTests {
    @Test func stringsMatchTheBytesAndSortInCommitOrder() {
        var random = SplitMix64(seed: 25)
        var previous: (lsn: UInt64, ordinal: Int, id: String)?
        for step in 0..<2_000 {
            let lsn = step == 0 ? 0 : step == 1 ? .max : UInt64.random(in: 0...(UInt64.max >> UInt64.random(in: 0...63, using: &random)), using: &random)
            let ordinal = step == 0 ? 0 : Int.random(in: 0...Int(UInt32.max), using: &random)
            let id = EventID.string(lsn: lsn, ordinal: ordinal)
            var bytes: [UInt8] = []
            EventID.append(lsn: lsn, ordinal: ordinal, into: &bytes)
            #expect(Array(id.utf8) == bytes)
            #expect(id == String(format: "%016llx-%08x", lsn, UInt32(ordinal)))
            if let previous {
                #expect((previous.lsn, previous.ordinal) < (lsn, ordinal) ? previous.id < id : previous.id >= id)
            }
            previous = (lsn, ordinal, id)
        }
    }
}
