#if DEBUG
@testable import PGReflexJournal

/// Journal records and segments as read back from disk: a record that decodes encodes back to
/// itself; a segment of any bytes (with checksums right or wrong) scans to records, a torn
/// tail, or a `JournalError`, never a crash.
enum JournalFuzz {
    static func run(_ bytes: [UInt8]) {
        guard let mode = bytes.first else { return }
        let rest = Array(bytes.dropFirst())
        switch mode % 3 {
        case 0:
            // The payload decoder directly (the checksum is what usually keeps noise out).
            if let record = JournalRecord.decode(payload: rest[...]) {
                var framed: [UInt8] = []
                record.encode(into: &framed)
                let again = JournalRecord.decode(payload: framed[JournalRecord.headerSize...])
                require(again == record, "a decoded record does not survive encode and decode")
            }
        case 1:
            // Payloads framed with right checksums, in a segment with a valid header.
            var segment = JournalSegment.header
            for payload in rest.split(separator: 0xFF, omittingEmptySubsequences: false) {
                var header = [UInt8](repeating: 0, count: JournalRecord.headerSize)
                let length = UInt32(payload.count)
                let crc = CRC32C.checksum(payload)
                for i in 0..<4 {
                    header[i] = UInt8(truncatingIfNeeded: length >> (8 * i))
                    header[4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * i))
                }
                segment += header + payload
            }
            scan(segment)
        default:
            // Any bytes as a segment file.
            scan(rest)
        }
    }

    static func scan(_ segment: [UInt8]) {
        defer { Scratch.clear() }
        let path = Scratch.write(segment, "0000000000000000-00000000.seg")
        for tolerant in [false, true] {
            do {
                var visited = 0
                let result = try JournalSegment.scan(path, tolerant: tolerant) { record, _ in
                    var framed: [UInt8] = []
                    record.encode(into: &framed)
                    require(JournalRecord.decode(payload: framed[JournalRecord.headerSize...]) == record, "a scanned record does not round-trip")
                    visited += 1
                }
                require(result.records == visited, "the scan counted \(result.records) records and visited \(visited)")
                require(result.validEnd <= result.fileSize, "the valid end is past the file")
            } catch is JournalError {
                require(!tolerant || true, "")
            } catch {
                require(false, "\(type(of: error)) escaped the segment scan: \(error)")
            }
        }
        do {
            _ = try Journal.inspect(directory: Scratch.directory)
        } catch is JournalError {
        } catch {
            require(false, "\(type(of: error)) escaped journal inspect: \(error)")
        }
    }
}
#endif
