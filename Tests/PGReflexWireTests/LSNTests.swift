import PGReflexWire
import PGReflexTestSupport
import Testing

@Suite struct LSNTests {
    @Test(arguments: ["0/0", "0/16B3748", "16/B374D848", "FFFFFFFF/FFFFFFFF", "1/0"])
    func roundTrips(_ text: String) throws {
        let lsn = try #require(LSN(text))
        #expect(lsn.description == text)
    }

    @Test func parsesLowercaseAndOrders() throws {
        #expect(LSN("0/16b3748") == LSN("0/16B3748"))
        #expect(try #require(LSN("1/0")) > #require(LSN("0/FFFFFFFF")))
        #expect(LSN("1/0")?.rawValue == 1 << 32)
    }

    @Test(arguments: ["", "0", "/1", "1/", "0/0/0", "G/0", "123456789/0", " 0/1", "0/-1"])
    func rejects(_ text: String) {
        #expect(LSN(text) == nil)
    }

    @Test func randomValuesRoundTrip() {
        var generator = SplitMix64(seed: 42)
        for _ in 0..<10_000 {
            let lsn = LSN(generator.next())
            #expect(LSN(lsn.description) == lsn)
        }
    }
}

@Suite struct PostgresTimestampTests {
    @Test func formatsEpochs() {
        #expect(PostgresTimestamp(rawValue: 0).iso8601 == "2000-01-01T00:00:00.000000Z")
        #expect(PostgresTimestamp(unixMicroseconds: 0).iso8601 == "1970-01-01T00:00:00.000000Z")
        #expect(PostgresTimestamp(unixMicroseconds: 1_795_000_000_123_456).iso8601 == "2026-11-18T11:06:40.123456Z")
        #expect(PostgresTimestamp(unixMicroseconds: -1).iso8601 == "1969-12-31T23:59:59.999999Z")
        #expect(PostgresTimestamp(rawValue: .max).iso8601 == "infinity")
        #expect(PostgresTimestamp(rawValue: .min).iso8601 == "-infinity")
    }

    @Test func leapDays() {
        // 2024-02-29T12:00:00Z
        #expect(PostgresTimestamp(unixMicroseconds: 1_709_208_000_000_000).iso8601 == "2024-02-29T12:00:00.000000Z")
    }
}
