public import PGReflexAgentContract


/// What every agent kind sends for a call: one event's envelope as it is, or a batch's
/// envelopes in `{"events": [...]}`. A webhook's body and an `exec` agent's stdin are the same
/// bytes, so a receiver can move from one kind to the other unchanged.
public enum AgentPayload {
    public static func body(_ events: [AgentEvent]) -> [UInt8] {
        if events.count == 1 { return Array(trimmed(events[0].envelope)) }
        var body = Array(#"{"events":["#.utf8)
        for (i, event) in events.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += trimmed(event.envelope)
        }
        body += Array("]}".utf8)
        return body
    }

    /// An envelope without its line end.
    static func trimmed(_ envelope: [UInt8]) -> ArraySlice<UInt8> {
        var slice = envelope[...]
        while let last = slice.last, last == 0x0A || last == 0x0D { slice = slice.dropLast() }
        return slice
    }
}
