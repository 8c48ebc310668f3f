import Foundation
import Logging
import PGReflexEnvelope
import PGReflexWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Log lines as JSON objects on stderr, one per line, for log shippers: `ts` (RFC 3339 UTC,
/// microseconds), `level`, `logger`, `msg`, then the metadata as fields. Values are strings, as
/// swift-log gives them; nested metadata stays nested.
struct JSONLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let label: String

    /// One write(2) per line keeps lines whole between threads; the lock keeps them in order.
    private static let output = Mutex(())

    init(label: String) {
        self.label = label
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var writer = JSONWriter(capacity: 256)
        writer.raw("{\"ts\":")
        writer.string(Self.timestamp())
        writer.raw(",\"level\":")
        writer.string(event.level.rawValue)
        writer.raw(",\"logger\":")
        writer.string(label)
        writer.raw(",\"msg\":")
        writer.string(event.message.description)
        var fields = self.metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let metadata = event.metadata { fields.merge(metadata) { $1 } }
        for key in fields.keys.sorted() where !["ts", "level", "logger", "msg"].contains(key) {
            writer.raw(UInt8(ascii: ","))
            writer.string(key)
            writer.raw(UInt8(ascii: ":"))
            Self.write(fields[key]!, into: &writer)
        }
        writer.raw("}\n")
        Self.output.withLock { _ in
            writer.bytes.withUnsafeBufferPointer { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 {
                        if written < 0 && errno == EINTR { continue }
                        return
                    }
                    offset += written
                }
            }
        }
    }

    static func write(_ value: Logger.Metadata.Value, into writer: inout JSONWriter) {
        switch value {
        case .string(let string): writer.string(string)
        case .stringConvertible(let convertible): writer.string(convertible.description)
        case .array(let values):
            writer.raw(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { writer.raw(UInt8(ascii: ",")) }
                write(element, into: &writer)
            }
            writer.raw(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            writer.raw(UInt8(ascii: "{"))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { writer.raw(UInt8(ascii: ",")) }
                writer.string(key)
                writer.raw(UInt8(ascii: ":"))
                write(dictionary[key]!, into: &writer)
            }
            writer.raw(UInt8(ascii: "}"))
        }
    }

    static func timestamp() -> String {
        PostgresTimestamp.now().iso8601
    }
}
