import Crypto
public import Foundation

/// Standard Webhooks signatures: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`,
/// keyed with the base64 part of a `whsec_` secret. Signing for the webhook agent and the `http`
/// tool; verifying for receivers (`pgreflex webhook verify`, and the example receiver does the same).
public struct WebhookSignature: Sendable {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Code: String, Sendable {
            case badSecret = "bad_secret"
            case missingHeader = "missing_header"
            case timestampOutOfTolerance = "timestamp_out_of_tolerance"
            case noMatchingSignature = "no_matching_signature"
        }

        public var code: Code
        public var message: String
        public var description: String { "\(code.rawValue): \(message)" }
    }

    let keys: [SymmetricKey]

    /// `whsec_…` secrets (the prefix may be left out).
    public init(secrets: [String]) throws(Failure) {
        keys = try secrets.map { secret throws(Failure) in
            let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
            guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else {
                throw Failure(code: .badSecret, message: "a secret is not whsec_ followed by base64: copy it again")
            }
            return SymmetricKey(data: bytes)
        }
    }

    /// One `v1,…` per secret, space-separated (rotation: the receiver accepts any).
    public func sign(id: String, timestamp: String, body: [UInt8]) -> String {
        let content = Array("\(id).\(timestamp).".utf8) + body
        return keys.map { "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: $0)).base64EncodedString() }
            .joined(separator: " ")
    }

    /// Checks a received request: its timestamp within `tolerance` of `now`, and one of its
    /// signatures made with one of the secrets.
    public func verify(id: String?, timestamp: String?, signatures: String?, body: [UInt8], now: Date = Date(),
                       tolerance: TimeInterval = 300) throws(Failure) {
        guard let id, let timestamp, let signatures else {
            throw Failure(code: .missingHeader, message: "webhook-id, webhook-timestamp and webhook-signature are all needed")
        }
        guard let seconds = TimeInterval(timestamp), abs(now.timeIntervalSince1970 - seconds) <= tolerance else {
            throw Failure(code: .timestampOutOfTolerance,
                          message: "webhook-timestamp \(timestamp) is more than \(Int(tolerance)) s from now: a replayed or delayed request, or a clock off")
        }
        let content = Array("\(id).\(timestamp).".utf8) + body
        let offered = signatures.split(separator: " ").compactMap { part -> Data? in
            guard part.hasPrefix("v1,") else { return nil }
            return Data(base64Encoded: String(part.dropFirst(3)))
        }
        for key in keys where offered.contains(where: { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: content, using: key) }) {
            return
        }
        throw Failure(code: .noMatchingSignature, message: "no v1 signature matches these secrets and this body")
    }
}
