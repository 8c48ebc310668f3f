import Crypto
import CryptoExtras
import Foundation

extension PrivacyKeyring {
    /// `hash:<key id>:<base64url HMAC-SHA256(value)>` under the active key.
    public func pseudonym(of value: UnsafeBufferPointer<UInt8>) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: UnsafeRawBufferPointer(value), using: active.hash)
        return "hash:\(active.id):" + Self.base64URL(Data(mac))
    }

    /// `tok:<key id>:<base64url nonce‖ciphertext‖tag>` under the active key. The nonce is an
    /// HMAC of the value (a synthetic IV), so equal values give equal tokens; AES-GCM-SIV keeps
    /// that safe, since reusing a nonce with it reveals only that two plaintexts are equal.
    public func token(of value: UnsafeBufferPointer<UInt8>) -> String {
        let plaintext = UnsafeRawBufferPointer(value)
        let mac = HMAC<SHA256>.authenticationCode(for: plaintext, using: active.nonce)
        let nonce = try! AES.GCM._SIV.Nonce(data: Data(mac).prefix(12))  // 12 bytes: always valid
        let box = try! AES.GCM._SIV.seal(plaintext, using: active.encryption, nonce: nonce,
                                         authenticating: Array("pgreflex:\(active.id)".utf8))  // a 256-bit key: cannot fail
        return "tok:\(active.id):" + Self.base64URL(box.combined)
    }

    /// The value a token stands for, with whichever held key made it.
    public func reveal(_ token: String) throws(PrivacyError) -> [UInt8] {
        let parts = token.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw PrivacyError(code: .badToken, message: "not a pgreflex token (tok:<key id>:<data>)")
        }
        if parts[0] == "hash" {
            throw PrivacyError(code: .notReversible, message: "a hash:… pseudonym cannot be reversed; only tok:… tokens can")
        }
        guard parts[0] == "tok" else { throw PrivacyError(code: .badToken, message: "not a pgreflex token (tok:<key id>:<data>)") }
        let id = String(parts[1])
        guard let key = keys[id] else {
            throw PrivacyError(code: .unknownKey, message: "the token was made with key '\(id)', which this keyring does not hold (it holds \(ids.joined(separator: ", ")))")
        }
        guard let combined = Self.decodeBase64URL(String(parts[2])), combined.count >= 28,
              let box = try? AES.GCM._SIV.SealedBox(combined: combined),
              let plaintext = try? AES.GCM._SIV.open(box, using: key.encryption, authenticating: Array("pgreflex:\(id)".utf8))
        else {
            throw PrivacyError(code: .badToken, message: "the token does not decrypt under key '\(id)': it is damaged, or the key is not the one that made it")
        }
        return Array(plaintext)
    }

    public func pseudonym(of value: [UInt8]) -> String {
        value.withUnsafeBufferPointer { pseudonym(of: $0) }
    }

    public func token(of value: [UInt8]) -> String {
        value.withUnsafeBufferPointer { token(of: $0) }
    }

    static func base64URL(_ data: Data) -> String {
        var text = data.base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    static func decodeBase64URL(_ text: String) -> Data? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard)
    }
}
