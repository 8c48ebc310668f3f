import Foundation
@testable import PGReflexPrivacy
import PGReflexTestSupport
import Testing

@Suite struct PrivacyKeyringTests {
    static func key(_ byte: UInt8) -> String { Data(repeating: byte, count: 32).base64EncodedString() }
    static let one = try! PrivacyKeyring(parsing: "k1:\(key(1))", source: "test")
    static let two = try! PrivacyKeyring(parsing: "k2:\(key(2))", source: "test")

    let email = Array("alice@example.com".utf8)

    /// The cache of recent values answers exactly what the cryptography would, for hashes and
    /// tokens of the same value alike, and stays within its bound past it.
    @Test func cachedValuesEqualFreshOnesAndTheCacheStaysBounded() throws {
        let keyring = try PrivacyKeyring(parsing: "k1:\(Self.key(7))", source: "test")
        let values = (0..<(PrivacyKeyring.cachedValues * 2)).map { Array("user\($0 % 20_000)@example.com".utf8) }
        for value in values {
            value.withUnsafeBufferPointer { bytes in
                #expect(keyring.token(of: bytes) == keyring.makeToken(of: bytes))
                #expect(keyring.pseudonym(of: bytes) == keyring.makePseudonym(of: bytes))
            }
        }
        #expect(keyring.cache.count <= PrivacyKeyring.cachedValues)
        // A token still reverses to its value after being served from the cache.
        #expect(try keyring.reveal(keyring.token(of: values[3])) == values[3])
    }

    @Test func tokensAreDeterministicPerKeyAndDifferAcrossKeys() {
        #expect(Self.one.token(of: email) == Self.one.token(of: email))
        #expect(Self.one.token(of: email) != Self.one.token(of: Array("bob@example.com".utf8)))
        #expect(Self.one.token(of: email) != Self.two.token(of: email))
        #expect(Self.one.token(of: email).hasPrefix("tok:k1:"))
        #expect(!Self.one.token(of: email).contains("alice"))
    }

    @Test func hashesAreDeterministicKeyedAndNotTokens() {
        let hash = Self.one.pseudonym(of: email)
        #expect(hash == Self.one.pseudonym(of: email))
        #expect(hash != Self.two.pseudonym(of: email))
        #expect(hash.hasPrefix("hash:k1:") && hash.count == "hash:k1:".count + 43)
        // The hash and the token of one value share nothing (separate derived keys).
        #expect(!Self.one.token(of: email).contains(String(hash.dropFirst(8).prefix(12))))
        let error = try? #require(throws: PrivacyError.self) { try Self.one.reveal(hash) }
        #expect(error?.code == .notReversible)
    }

    @Test func revealRoundTripsEveryValueShape() throws {
        let seed = SplitMix64.testSeed()
        var random = SplitMix64(seed: seed)
        for length in [0, 1, 15, 16, 17, 100, 5000] {
            let value = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(try Self.one.reveal(Self.one.token(of: value)) == value, "PGREFLEX_TEST_SEED=\(seed)")
        }
    }

    @Test func aRotatedKeyringStillRevealsOldTokens() throws {
        let old = Self.one.token(of: email)
        let rotated = try PrivacyKeyring(parsing: "k1:\(Self.key(1))\nk2:\(Self.key(2))", source: "test")
        #expect(rotated.activeID == "k2")
        #expect(rotated.token(of: email).hasPrefix("tok:k2:"))
        #expect(try rotated.reveal(old) == email)
        #expect(try rotated.reveal(rotated.token(of: email)) == email)
        // Without the old key, the old token is named as such.
        let error = try #require(throws: PrivacyError.self) { try Self.two.reveal(old) }
        #expect(error.code == .unknownKey && error.message.contains("'k1'"))
        // An explicit active key.
        let pinned = try PrivacyKeyring(parsing: "k1:\(Self.key(1)),k2:\(Self.key(2))", active: "k1", source: "test")
        #expect(pinned.token(of: email) == old)
    }

    @Test func damagedTokensAreRefusedWithoutEchoingThem() {
        var token = Array(Self.one.token(of: email))
        token[token.count - 3] = token[token.count - 3] == "A" ? "B" : "A"
        for bad in [String(token), "tok:k1:", "tok:k1:!!!", "nonsense", "tok:k1"] {
            let error = try? #require(throws: PrivacyError.self) { try Self.one.reveal(bad) }
            #expect(error?.code == .badToken || error?.code == .unknownKey)
            // What follows the key id is the token's payload (or, for no token at all, the input):
            // the message must not carry it.
            let payload = bad.hasPrefix("tok:k1:") ? String(bad.dropFirst("tok:k1:".count)) : bad
            if !payload.isEmpty {
                #expect(error.map { !$0.description.contains(payload) } == true, "\(bad): \(String(describing: error))")
            }
        }
    }

    @Test func keyringTextErrorsSayWhatToFix() {
        let cases: [(String, String)] = [
            ("", "holds no key"),
            ("k1", "not id:base64"),
            ("k1:c2hvcnQ=", "at least 32 bytes"),
            ("bad id:\(Self.key(1))", "key id"),
            ("k1:\(Self.key(1))\nk1:\(Self.key(2))", "appears twice"),
        ]
        for (text, words) in cases {
            let error = try? #require(throws: PrivacyError.self) { try PrivacyKeyring(parsing: text, source: "$KEYS") }
            #expect(error?.message.contains(words) == true, "\(text): \(String(describing: error))")
            #expect(error?.message.contains(Self.key(1)) == false)
        }
        let missing = try? #require(throws: PrivacyError.self) {
            try PrivacyKeyring(parsing: "k1:\(Self.key(1))", active: "k9", source: "$KEYS")
        }
        #expect(missing?.message.contains("'k9'") == true)
    }
}

@Suite struct PrivacyPolicyTests {
    @Test func masksKeepWhatTheyAreTold() {
        #expect(MaskRule(keepLast: 4).apply("555-123-4567") == "********4567")
        #expect(MaskRule(keepFirst: 1, keepEmailDomain: true).apply("alice@example.com") == "a****@example.com")
        #expect(MaskRule(keepEmailDomain: true).apply("no-at-sign") == "**********")
        #expect(MaskRule(keepFirst: 3, keepLast: 3).apply("ab") == "ab")
        #expect(MaskRule(keepLast: 2).apply("žluťoučký") == "*******ký")
        // The byte path (ASCII) and the Character path agree.
        for rule in [MaskRule(keepLast: 4), MaskRule(keepFirst: 1, keepEmailDomain: true), MaskRule(keepEmailDomain: true),
                     MaskRule(keepFirst: 3, keepLast: 3), MaskRule(keepFirst: 2, keepLast: 2, keepEmailDomain: true)] {
            for text in ["555-123-4567", "alice@example.com", "no-at-sign", "ab", "", "@", "a@b@c.org", "line\r\nbreak", "žluťoučký", "jürgen@example.de"] {
                let bytes = Array(text.utf8)
                #expect(bytes.withUnsafeBufferPointer { rule.apply($0) } == rule.apply(text), "\(rule) \(text)")
            }
        }
    }

    @Test func patternsGlobEachPartAndNeverCrossADot() throws {
        let pattern = try #require(ColumnPattern(parsing: "public.*.email"))
        #expect(pattern.matches(schema: "public", table: "customers", column: "email"))
        #expect(!pattern.matches(schema: "public", table: "customers", column: "email2"))
        #expect(!pattern.matches(schema: "audit", table: "customers", column: "email"))
        #expect(try #require(ColumnPattern(parsing: "*.*.ssn?")).matches(schema: "a", table: "b", column: "ssn1"))
        #expect(ColumnPattern(parsing: "public.email") == nil)
        #expect(ColumnPattern(parsing: "a..c") == nil)
    }

    @Test func theFirstRuleDecidesAndUnapprovedColumnsDrop() throws {
        let policy = PrivacyPolicy(
            rules: [
                .init(pattern: try #require(ColumnPattern(parsing: "public.customers.email")), policy: .tokenize),
                .init(pattern: try #require(ColumnPattern(parsing: "public.*.email")), policy: .hash),
                .init(pattern: try #require(ColumnPattern(parsing: "*.*.notes")), policy: .redact(placeholder: "x")),
            ],
            columnFilters: ["public.customers": .init(exclude: ["secret"]), "public.orders": .init(include: ["id", "email"])])
        #expect(policy.policies(schema: "public", table: "customers", columns: ["id", "email", "notes", "secret"])
            == [nil, .tokenize, .redact(placeholder: "x"), .drop])
        #expect(policy.policies(schema: "public", table: "orders", columns: ["id", "email", "total"]) == [nil, .hash, .drop])
        #expect(policy.policies(schema: "public", table: "plain", columns: ["id", "total"]) == nil)
        #expect(policy.needsKeys)
    }
}

/// Tokens and pseudonyms are joined on downstream: the exact text for a key and value must never
/// change between versions.
@Suite struct TokenFormatTests {
    @Test func knownAnswers() throws {
        let keyring = PrivacyKeyringTests.one
        let value = Array("alice@example.com".utf8)
        #expect(keyring.pseudonym(of: value) == "hash:k1:71c-jPVqLWi9ZBpb1f6G3tqs30al9iKeDAgnFuXbrec")
        #expect(keyring.token(of: value) == "tok:k1:PLSHtJWCPGDFNKa1Kn6_QkNw6DVQmstLLVhmJvKUpk3WGw8IcYn7YFZCvfI_")
        #expect(keyring.token(of: []) == "tok:k1:KupGEOL8eSMneFCD38U079M8gPZOr2tt2apvxQ")
        #expect(keyring.token(of: [0xFB]) == "tok:k1:vIN47wPhmBdVNCXbMRnxdyqKUW79U17gskUWyB8")
        #expect(keyring.token(of: [0xFB, 0xFB]) == "tok:k1:ugmZQjc3yzwTOLrYs0vAkdZjrBU0i7XSPyBDGWmO")
        #expect(try keyring.reveal("tok:k1:ugmZQjc3yzwTOLrYs0vAkdZjrBU0i7XSPyBDGWmO") == [0xFB, 0xFB])
    }
}
