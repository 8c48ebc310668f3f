import PGReflexWire

extension ChangeEvent {
    /// Placeholder for a TOASTed value the change did not touch (the server did not send it),
    /// spelled as Debezium spells it so existing consumers recognise it.
    public static let unavailableValuePlaceholder: StaticString = "__debezium_unavailable_value"

    /// The per-transaction part of a tail line, formatted once per transaction.
    public struct TransactionFieldsCache: Sendable {
        var commitLSN = LSN(UInt64.max)
        var xid: UInt32 = 0
        var bytes: [UInt8] = []

        public init() {}
    }

    /// Appends this event as one line of `pgreflex tail` output:
    /// `{"lsn","commit_lsn","xid","commit_ts","ordinal","schema","table","op","before","after"}`
    /// plus `message` for logical messages, then a newline.
    public func writeTailJSON(into writer: inout JSONWriter, cache: inout TransactionFieldsCache) {
        writer.raw("{\"lsn\":\"")
        lsn.write(into: &writer.bytes)
        writer.raw(UInt8(ascii: "\""))
        if cache.commitLSN != commitLSN || cache.xid != xid || commitLSN == .invalid {
            cache.commitLSN = commitLSN
            cache.xid = xid
            var fields = JSONWriter(capacity: 96)
            fields.raw(",\"commit_lsn\":")
            if commitLSN == .invalid {
                fields.null()
            } else {
                fields.raw(UInt8(ascii: "\""))
                commitLSN.write(into: &fields.bytes)
                fields.raw(UInt8(ascii: "\""))
            }
            fields.raw(",\"xid\":")
            fields.integer(xid)
            fields.raw(",\"commit_ts\":")
            if let commitTime {
                fields.raw(UInt8(ascii: "\""))
                commitTime.writeISO8601(into: &fields.bytes)
                fields.raw(UInt8(ascii: "\""))
            } else {
                fields.null()
            }
            cache.bytes = fields.bytes
        }
        writer.raw(cache.bytes)
        writer.raw(",\"ordinal\":")
        writer.integer(ordinal)
        writer.raw(",\"schema\":")
        if let relation { writer.raw(relation.schemaJSON) } else { writer.null() }
        writer.raw(",\"table\":")
        if let relation { writer.raw(relation.tableJSON) } else { writer.null() }
        writer.raw(",\"op\":\"")
        writer.raw(operation.rawValue)
        writer.raw("\",\"before\":")
        if let before, let relation {
            Self.writeRow(before, relation: relation, keyOnly: beforeIsKeyOnly, into: &writer)
        } else {
            writer.null()
        }
        writer.raw(",\"after\":")
        if let after, let relation {
            Self.writeRow(after, relation: relation, keyOnly: false, into: &writer)
        } else {
            writer.null()
        }
        if let message {
            writer.raw(",\"message\":{\"transactional\":")
            writer.bool(message.isTransactional)
            writer.raw(",\"prefix\":")
            writer.string(message.prefix)
            writer.raw(",\"content\":")
            writer.base64String(message.content.bytes)
            writer.raw(UInt8(ascii: "}"))
        }
        writer.raw("}\n")
    }

    static func writeRow(_ tuple: TupleData, relation: RelationDescriptor, keyOnly: Bool, into writer: inout JSONWriter) {
        writer.raw(UInt8(ascii: "{"))
        tuple.storage.withUnsafeBufferPointer { storage in
            var first = true
            for index in tuple.columns.indices {
                if keyOnly && !relation.relation.columns[index].isKey { continue }
                if !first { writer.raw(UInt8(ascii: ",")) }
                first = false
                writer.raw(relation.columnKeys[index])
                switch tuple.columns[index] {
                case .null:
                    writer.null()
                case .unchangedToast:
                    writer.raw(UInt8(ascii: "\""))
                    writer.raw(unavailableValuePlaceholder)
                    writer.raw(UInt8(ascii: "\""))
                case .binary(let range):
                    writer.base64String(UnsafeBufferPointer(rebasing: storage[range]))
                case .text(let range):
                    writeText(UnsafeBufferPointer(rebasing: storage[range]), kind: relation.columnKinds[index], into: &writer)
                }
            }
        }
        writer.raw(UInt8(ascii: "}"))
    }

    static func writeText(_ text: UnsafeBufferPointer<UInt8>, kind: JSONValueKind, into writer: inout JSONWriter) {
        switch kind {
        case .integer, .json:
            writer.raw(text)
        case .float:
            // NaN, Infinity and -Infinity are not JSON numbers.
            if let last = text.last, last == UInt8(ascii: "N") || last == UInt8(ascii: "y") {
                writer.string(utf8: text)
            } else {
                writer.raw(text)
            }
        case .boolean:
            writer.bool(text.first == UInt8(ascii: "t"))
        case .string:
            writer.string(utf8: text)
        }
    }
}
