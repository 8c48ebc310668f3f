public import PGReflexWire

/// The consumer's confirmed position: it advances only over a contiguous prefix of fully
/// handled events, however out of order the completions arrive.
///
/// Events are registered in delivery (commit) order; each may be marked as the last of its
/// transaction, with that transaction's end LSN. Completions arrive in any order. When the
/// handled prefix passes the last event of a transaction, the action says that transaction's
/// end LSN may now be confirmed to the slot: nothing before it is still in flight.
///
/// A pure state machine: the owner performs the I/O (status updates, checkpoint writes).
public struct AcknowledgementWatermark: Sendable {
    public enum Action: Equatable, Sendable {
        case none
        /// Everything up to and including `position` is handled; `transactionEnd`, when set, is
        /// the end LSN of the last whole transaction inside that prefix.
        case advance(position: EventPosition, transactionEnd: LSN?)
    }

    public enum Failure: Error, Equatable, Sendable {
        /// Delivered out of commit order, or twice.
        case outOfOrder(EventPosition, after: EventPosition)
        /// Completed without having been delivered (or completed twice).
        case unknown(EventPosition)
    }

    private struct Entry {
        var position: EventPosition
        var transactionEnd: LSN?
        var done = false
    }

    /// In-flight events in delivery order, so sorted by position; `head` is the first not
    /// yet passed. Found by binary search (most completions are at the head): a dictionary
    /// from position to entry cost an insert and a removal per event.
    private var entries: [Entry] = []
    private var head = 0
    public private(set) var confirmed: EventPosition?
    public private(set) var confirmedTransactionEnd: LSN?

    public init(resumingAfter position: EventPosition? = nil, transactionEnd: LSN? = nil) {
        confirmed = position
        confirmedTransactionEnd = transactionEnd
    }

    /// Events delivered and not yet passed by the watermark.
    public var inFlight: Int { entries.count - head }

    /// Registers the next event in commit order.
    public mutating func delivered(_ position: EventPosition, endsTransactionAt end: LSN? = nil) throws(Failure) {
        let last = entries.last?.position ?? confirmed
        if let last, position <= last { throw .outOfOrder(position, after: last) }
        entries.append(Entry(position: position, transactionEnd: end))
    }

    /// Where an event not yet passed is.
    private func slot(of position: EventPosition) -> Int? {
        if head < entries.count, entries[head].position == position { return head }
        var low = head
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].position < position { low = middle + 1 } else { high = middle }
        }
        return low < entries.count && entries[low].position == position ? low : nil
    }

    /// Marks an event handled, in any order; the watermark moves when a gap closes.
    public mutating func completed(_ position: EventPosition) throws(Failure) -> Action {
        guard let slot = slot(of: position), !entries[slot].done else {
            throw .unknown(position)
        }
        entries[slot].done = true
        guard slot == head else { return .none }
        var passedEnd: LSN?
        while head < entries.count, entries[head].done {
            if let end = entries[head].transactionEnd { passedEnd = end }
            confirmed = entries[head].position
            head += 1
        }
        if let passedEnd { confirmedTransactionEnd = passedEnd }
        compact()
        return .advance(position: confirmed!, transactionEnd: passedEnd)
    }

    /// Drops passed entries now and then, so memory follows the in-flight window.
    private mutating func compact() {
        guard head > 1024, head * 2 > entries.count else { return }
        entries.removeFirst(head)
        head = 0
    }
}
