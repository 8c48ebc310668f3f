// libFuzzer entry point for the pgoutput and replication-frame decoders.
// Built by Tests/Fuzz/run.sh with -sanitize=fuzzer,address; not part of the package build.
import PGReflexWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let control = bytes.first else { return 0 }
    // The first byte picks the decoding context, so one corpus covers every protocol version.
    let version = Int(control & 3) + 1
    _ = try? PgOutputMessage.decode(
        storage: bytes, range: 1..<bytes.count, protocolVersion: version,
        streamed: control & 4 != 0, parallelStreaming: control & 8 != 0)
    _ = try? ReplicationFrame.decode(storage: bytes, range: 1..<bytes.count)
    var decoder = PgOutputDecoder(protocolVersion: version, parallelStreaming: control & 8 != 0)
    var offset = 1
    // A sequence of length-prefixed messages exercises the stream-block state too.
    while offset < bytes.count {
        let length = Int(bytes[offset])
        let end = min(bytes.count, offset + 1 + length)
        _ = try? decoder.decode(storage: bytes, range: (offset + 1)..<end)
        offset = end
    }
    return 0
}
