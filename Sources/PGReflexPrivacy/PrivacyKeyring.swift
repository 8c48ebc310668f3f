import Crypto
import Foundation

/// The secret keys of the privacy policies, by id. Read from an environment variable or a key
/// file, never from the configuration itself. New values use the active key; every key held
/// can still reverse its old tokens, so a key can rotate without losing them.
///
/// The text form is one key per line (or comma-separated): `id:base64`, where the key material
/// is at least 32 random bytes (`openssl rand -base64 32`). Lines starting with `#` are ignored.
public struct PrivacyKeyring: Sendable {
    /// Subkeys derived from one key's material, one per purpose, so a hash and a token of the
    /// same value share nothing.
    struct Key: Sendable {
        let id: String
        /// Keyed once; each use copies the keyed state (the digest contexts are copy-on-write),
        /// which saves hashing the key for every value.
        let hash: HMAC<SHA256>
        let nonce: HMAC<SHA256>
        let encryption: SymmetricKey
        /// `pgreflex:<id>`: authenticated with every token, so a token cannot pass for another key's.
        let authenticatedData: [UInt8]
        let hashPrefix: String
        let tokenPrefix: String

        init(id: String, material: [UInt8]) {
            self.id = id
            let input = SymmetricKey(data: material)
            func derive(_ purpose: String) -> SymmetricKey {
                HKDF<SHA256>.deriveKey(inputKeyMaterial: input, salt: Array("pgreflex".utf8), info: Array(purpose.utf8),
                                       outputByteCount: 32)
            }
            hash = HMAC(key: derive("pgreflex hash v1"))
            nonce = HMAC(key: derive("pgreflex token nonce v1"))
            encryption = derive("pgreflex token encryption v1")
            authenticatedData = Array("pgreflex:\(id)".utf8)
            hashPrefix = "hash:\(id):"
            tokenPrefix = "tok:\(id):"
        }
    }

    let keys: [String: Key]
    let active: Key
    /// Shared by the keyring's copies: one bound for the whole process.
    let cache: ProtectedValueCache

    /// How many pseudonyms and tokens the cache holds at most (about 200 bytes each).
    public static let cachedValues = 16_384

    /// `active` nil: the last key listed.
    public init(parsing text: String, active: String? = nil, source: String) throws(PrivacyError) {
        var keys: [String: Key] = [:]
        var order: [String] = []
        let entries = text.split(whereSeparator: { $0 == "\n" || $0 == "," }).map { $0.trimmingCharacters(in: .whitespaces) }
        for (n, entry) in entries.enumerated() where !entry.isEmpty && !entry.hasPrefix("#") {
            guard let colon = entry.firstIndex(of: ":") else {
                throw PrivacyError(code: .badKey, message: "\(source): entry \(n + 1) is not id:base64")
            }
            let id = String(entry[..<colon])
            guard Self.isValidID(id) else {
                throw PrivacyError(code: .badKey, message: "\(source): entry \(n + 1): a key id is 1 to 32 letters, digits, - or _")
            }
            guard let material = Data(base64Encoded: String(entry[entry.index(after: colon)...])), material.count >= 32 else {
                throw PrivacyError(code: .badKey, message: "\(source): key '\(id)' is not base64 of at least 32 bytes (make one with `openssl rand -base64 32`)")
            }
            guard keys[id] == nil else { throw PrivacyError(code: .badKey, message: "\(source): key id '\(id)' appears twice") }
            keys[id] = Key(id: id, material: Array(material))
            order.append(id)
        }
        guard let last = order.last else {
            throw PrivacyError(code: .badKey, message: "\(source) holds no key: add a line id:base64 (`openssl rand -base64 32`)")
        }
        let activeID = active ?? last
        guard let activeKey = keys[activeID] else {
            throw PrivacyError(code: .badKey, message: "the active key '\(activeID)' is not in \(source); it holds \(order.joined(separator: ", "))")
        }
        self.keys = keys
        self.active = activeKey
        cache = ProtectedValueCache(capacity: Self.cachedValues)
    }

    public var activeID: String { active.id }
    public var ids: [String] { keys.keys.sorted() }

    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 32 && id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F
        }
    }
}
