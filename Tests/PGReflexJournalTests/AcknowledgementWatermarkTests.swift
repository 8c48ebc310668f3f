import PGReflexJournal
import PGReflexWire
import PGReflexTestSupport
import Testing

@Suite struct AcknowledgementWatermarkTests {
    func p(_ lsn: UInt64, _ ordinal: Int) -> EventPosition { EventPosition(commitLSN: LSN(lsn), ordinal: ordinal) }

    @Test func outOfOrderCompletionNeverSkipsAGap() throws {
        var watermark = AcknowledgementWatermark()
        try watermark.delivered(p(100, 0))
        try watermark.delivered(p(100, 1), endsTransactionAt: LSN(120))
        try watermark.delivered(p(200, 0), endsTransactionAt: LSN(220))
        #expect(try watermark.completed(p(200, 0)) == .none)
        #expect(try watermark.completed(p(100, 1)) == .none)
        #expect(watermark.confirmed == nil)
        #expect(try watermark.completed(p(100, 0)) == .advance(position: p(200, 0), transactionEnd: LSN(220)))
        #expect(watermark.confirmedTransactionEnd == LSN(220))
        #expect(watermark.inFlight == 0)
    }

    @Test func aTransactionIsConfirmedOnlyWhenAllItsEventsAre() throws {
        var watermark = AcknowledgementWatermark()
        try watermark.delivered(p(100, 0))
        try watermark.delivered(p(100, 1))
        try watermark.delivered(p(100, 2), endsTransactionAt: LSN(150))
        #expect(try watermark.completed(p(100, 0)) == .advance(position: p(100, 0), transactionEnd: nil))
        #expect(try watermark.completed(p(100, 1)) == .advance(position: p(100, 1), transactionEnd: nil))
        #expect(watermark.confirmedTransactionEnd == nil)
        #expect(try watermark.completed(p(100, 2)) == .advance(position: p(100, 2), transactionEnd: LSN(150)))
    }

    @Test func misuseIsRejected() throws {
        var watermark = AcknowledgementWatermark(resumingAfter: p(100, 5))
        #expect(throws: AcknowledgementWatermark.Failure.self) { try watermark.delivered(p(100, 5)) }
        try watermark.delivered(p(100, 6))
        #expect(throws: AcknowledgementWatermark.Failure.self) { try watermark.delivered(p(100, 6)) }
        #expect(throws: AcknowledgementWatermark.Failure.self) { try watermark.completed(p(999, 0)) }
        _ = try watermark.completed(p(100, 6))
        #expect(throws: AcknowledgementWatermark.Failure.self) { try watermark.completed(p(100, 6)) }
    }

    /// Property: for any completion order, the watermark only ever names a position whose
    /// every predecessor is complete, and ends at the last event.
    @Test(arguments: 0..<50)
    func randomCompletionOrders(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed) &* 0x9E37_79B9)
        var positions: [(EventPosition, LSN?)] = []
        var lsn: UInt64 = 1000
        for _ in 0..<Int.random(in: 1...40, using: &random) {
            let size = Int.random(in: 1...5, using: &random)
            for ordinal in 0..<size {
                positions.append((p(lsn, ordinal), ordinal == size - 1 ? LSN(lsn + 10) : nil))
            }
            lsn += 100
        }
        var watermark = AcknowledgementWatermark()
        for (position, end) in positions { try watermark.delivered(position, endsTransactionAt: end) }
        var done = Set<EventPosition>()
        var lastConfirmedEnd: LSN?
        for (position, _) in positions.shuffled(using: &random) {
            done.insert(position)
            if case .advance(let to, let end) = try watermark.completed(position) {
                #expect(positions.prefix { $0.0 <= to }.allSatisfy { done.contains($0.0) })
                if let end {
                    #expect(end > (lastConfirmedEnd ?? LSN(0)))
                    lastConfirmedEnd = end
                    // The confirmed transaction end belongs to a transaction wholly inside the prefix.
                    #expect(positions.contains { $0.1 == end && $0.0 <= to })
                }
            }
        }
        #expect(watermark.confirmed == positions.last?.0)
        #expect(watermark.confirmedTransactionEnd == positions.last?.1)
    }
}
