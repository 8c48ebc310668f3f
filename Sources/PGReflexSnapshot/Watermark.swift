/// A DBLog watermark: a logical message (`pg_logical_emit_message`, in a transaction of its
/// own) whose commit marks in the stream where a chunk's window opens (low) and closes (high).
/// No signal table.
public struct Watermark: Sendable, Equatable {
    public enum Edge: String, Sendable {
        case low
        case high
    }

    /// The prefix of watermark messages: capture never journals them.
    public static let prefix = "pgreflex.snapshot"

    public var snapshotID: Int64
    public var chunk: Int
    /// Random per window, so a watermark resent after a restart matches no open window.
    public var nonce: UInt64
    public var edge: Edge

    public init(snapshotID: Int64, chunk: Int, nonce: UInt64, edge: Edge) {
        self.snapshotID = snapshotID
        self.chunk = chunk
        self.nonce = nonce
        self.edge = edge
    }

    /// `snapshot-id:chunk:nonce:edge`.
    public var content: String { "\(snapshotID):\(chunk):\(String(nonce, radix: 16)):\(edge.rawValue)" }

    public init?<Bytes: Collection<UInt8>>(content: Bytes) {
        let parts = String(decoding: content, as: UTF8.self).split(separator: ":")
        guard parts.count == 4, let id = Int64(parts[0]), let chunk = Int(parts[1]), let nonce = UInt64(parts[2], radix: 16),
              let edge = Edge(rawValue: String(parts[3]))
        else { return nil }
        self.init(snapshotID: id, chunk: chunk, nonce: nonce, edge: edge)
    }
}
