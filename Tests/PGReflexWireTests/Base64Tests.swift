import Foundation
import PGReflexTestSupport
import PGReflexWire
import Testing

/// The one base64 encoder, both alphabets, against Foundation's.
@Suite struct Base64Tests {
    @Test func bothAlphabetsMatchFoundationAndURLRoundTrips() {
        var random = SplitMix64(seed: 64)
        for count in 0..<200 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            let standard = Data(bytes).base64EncodedString()
            var out = [UInt8](repeating: 0, count: Base64.encodedCount(count, alphabet: .standard) + 1)
            let end = out.withUnsafeMutableBufferPointer { Base64.encode(bytes, alphabet: .standard, into: $0, at: 1) }
            #expect(end == out.count)
            #expect(String(decoding: out[1...], as: UTF8.self) == standard)

            let url = standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(bytes.withUnsafeBytes { Base64.urlString($0, after: "p:") } == "p:" + url)
            #expect(Base64.decodeURL(url) == bytes)
        }
        // Padding, other alphabets, impossible lengths and stray low bits are refused.
        for bad in ["A", "AB=", "AB+/", "A*", "AB", "AAB"] { #expect(Base64.decodeURL(bad) == nil, "\(bad)") }
        #expect(Base64.decodeURL("AA") == [0])
    }
}
