public import PGReflexWire

/// What START_REPLICATION asks pgoutput for.
public struct ReplicationStreamOptions: Sendable {
    public enum Streaming: String, Sendable {
        /// Large transactions are sent whole at commit (the server may spill them to disk).
        case off
        /// Large in-progress transactions are streamed in blocks (protocol 2+, PostgreSQL 14+).
        case on
        /// As `on`, with abort LSN and time on Stream Abort (protocol 4, PostgreSQL 16+).
        case parallel
    }

    public var slot: String
    public var publications: [String]
    /// `0/0` starts at the slot's confirmed position.
    public var startLSN: LSN
    public var protocolVersion: Int
    public var streaming: Streaming
    /// Deliver `pg_logical_emit_message` messages.
    public var messages: Bool
    public var statusInterval: Duration
    /// When set, an empty batch is delivered after each such stretch without frames, so a
    /// consumer can act on silence (for example, exit when idle) without a timer of its own.
    public var idleTick: Duration?

    public init(
        slot: String, publications: [String], startLSN: LSN = .invalid, protocolVersion: Int = 2,
        streaming: Streaming = .on, messages: Bool = true, statusInterval: Duration = .seconds(10),
        idleTick: Duration? = nil
    ) {
        self.idleTick = idleTick
        self.slot = slot
        self.publications = publications
        self.startLSN = startLSN
        self.protocolVersion = protocolVersion
        self.streaming = streaming
        self.messages = messages
        self.statusInterval = statusInterval
    }

    /// The highest protocol version a server supports: 1 before 14, 2 on 14, 3 on 15, 4 from 16.
    public static func maximumProtocolVersion(serverVersion: Int) -> Int {
        switch serverVersion {
        case ..<140000: 1
        case ..<150000: 2
        case ..<160000: 3
        default: 4
        }
    }

    /// The START_REPLICATION command for a server of `serverVersion` (`server_version_num`), or
    /// the error that says what this server cannot do.
    func startCommand(serverVersion: Int) throws(PostgresError) -> String {
        let maximum = Self.maximumProtocolVersion(serverVersion: serverVersion)
        if protocolVersion > maximum || protocolVersion < 1 {
            throw PostgresError(
                code: .unsupportedServer,
                message: "pgoutput protocol version \(protocolVersion) needs a newer server: this one "
                    + "(server_version_num \(serverVersion)) supports up to \(maximum). Ask for \(maximum) or lower")
        }
        if streaming == .parallel && protocolVersion < 4 {
            throw PostgresError(code: .unsupportedServer, message: "streaming = parallel needs protocol version 4 (PostgreSQL 16+)")
        }
        if streaming != .off && protocolVersion < 2 {
            throw PostgresError(code: .unsupportedServer, message: "streaming of large transactions needs protocol version 2 or later; use --streaming off with protocol 1")
        }
        var parameters = [
            "proto_version \(Self.literal(String(protocolVersion)))",
            "publication_names \(Self.literal(publications.map(Self.identifier).joined(separator: ",")))",
        ]
        if messages { parameters.append("messages 'true'") }
        if protocolVersion >= 2 { parameters.append("streaming \(Self.literal(streaming.rawValue))") }
        return "START_REPLICATION SLOT \(Self.identifier(slot)) LOGICAL \(startLSN) (\(parameters.joined(separator: ", ")))"
    }

    /// The replication grammar takes plain '…' literals only (no E'' escapes).
    static func literal(_ value: String) -> String {
        "'" + value.replacingAll("'", with: "''") + "'"
    }

    static func identifier(_ value: String) -> String {
        "\"" + value.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    /// Every `target` replaced (the replication grammar's quoting).
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for c in self {
            if c == target { out += replacement } else { out.append(c) }
        }
        return out
    }
}
