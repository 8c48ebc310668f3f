import Foundation
import PGReflexEnvelope
import Testing

@Suite struct JSONWriterTests {
    @Test func stringsRoundTripThroughAParser() throws {
        let samples = ["", "plain", "quote\"back\\slash", "tab\tnew\nline\r", "\u{0}\u{1}\u{1F}", "日本語 é 🎉", "/slash"]
        for sample in samples {
            var writer = JSONWriter()
            writer.raw("[")
            writer.string(sample)
            writer.raw("]")
            let parsed = try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? [String]
            #expect(parsed == [sample])
        }
    }

    @Test func integersAndBase64() throws {
        var writer = JSONWriter()
        writer.raw("[")
        for (i, value) in [0, -1, Int64.min, Int64.max, 1234567890].enumerated() {
            if i > 0 { writer.raw(",") }
            writer.integer(value)
        }
        writer.raw("]")
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "[0,-1,-9223372036854775808,9223372036854775807,1234567890]")
        for length in 0..<10 {
            let data = (0..<length).map { UInt8($0 * 37 & 0xFF) }
            var b64 = JSONWriter()
            b64.base64String(data)
            #expect(String(decoding: b64.bytes, as: UTF8.self) == "\"" + Data(data).base64EncodedString() + "\"")
        }
    }
}
