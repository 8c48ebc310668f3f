import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The loop guard's bookkeeping. A write an agent's action makes is committed under the
/// replication origin `pgreflex:<depth>:<agent>`, depth being one more than that of the change
/// that caused it; capture writes the origin into the envelope's `source.origin`. Where the
/// role may not use origins, the same transaction starts with a logical message tag (prefix
/// `pgreflex.causation`, content `{"depth": n, "agent": "…"}`) instead. Routes then know who
/// caused a change and how deep the chain is.
public enum AgentCausation {
    public static let maxDepth = 3
    public static let tagPrefix = "pgreflex.causation"

    public struct Cause: Sendable, Equatable {
        public var depth: Int
        public var agent: String

        public init(depth: Int, agent: String) {
            self.depth = depth
            self.agent = agent
        }

        public var origin: String { "pgreflex:\(depth):\(agent)" }

        /// The tag's content.
        public var tag: String { #"{"agent":"\#(agent)","depth":\#(depth)}"# }
    }

    /// The cause a tag's content stands for: nil when it is not `{"depth": n, "agent": "…"}`
    /// with a whole number.
    public static func cause(tagContent: some Collection<UInt8>) -> Cause? {
        guard let tag = try? JSONDecoder().decode(Tag.self, from: Data(tagContent)) else { return nil }
        return Cause(depth: tag.depth, agent: tag.agent)
    }

    private struct Tag: Decodable {
        var depth: Int
        var agent: String
    }

    /// The cause an origin stands for: nil for no origin or another system's.
    public static func cause(origin: String?) -> Cause? {
        guard let origin, origin.hasPrefix("pgreflex:") else { return nil }
        let parts = origin.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let depth = Int(parts[1]), depth > 0 else { return nil }
        return Cause(depth: depth, agent: String(parts[2]))
    }

    /// Whether an envelope may carry our origin or our tag: a byte search, so only the changes
    /// agents made are parsed.
    public static func mayCarryCause(_ envelope: [UInt8]) -> Bool {
        contains(envelope, #""origin":"pgreflex:"#) || contains(envelope, #""prefix":"pgreflex.causation""#)
    }

    static func contains(_ envelope: [UInt8], _ text: StaticString) -> Bool {
        // memchr to each 'x' (rare in envelopes, unlike '"'), then memcmp around it: every routed
        // envelope is searched. (Glibc's module does not export memmem.)
        let n = text.utf8CodeUnitCount
        let needle = UnsafeBufferPointer(start: text.utf8Start, count: n)
        let anchor = needle.firstIndex(of: UInt8(ascii: "x"))!
        return envelope.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count >= n else { return false }
            var at = base + anchor
            let end = base + (bytes.count - n + anchor + 1)
            while at < end {
                guard let hit = memchr(at, Int32(UInt8(ascii: "x")), end - at) else { return false }
                if memcmp(UnsafeRawPointer(hit) - anchor, text.utf8Start, n) == 0 { return true }
                at = UnsafeRawPointer(hit) + 1
            }
            return false
        }
    }
}
