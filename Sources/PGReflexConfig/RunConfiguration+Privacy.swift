import Foundation
import PGReflexFiles
import PGReflexJournal
public import PGReflexPrivacy
import Yams

#if canImport(Glibc)
import Glibc
#endif

/// The `privacy` section:
///
/// ```yaml
/// privacy:
///   keys: { env: PGREFLEX_PRIVACY_KEYS }     # or file: ./privacy.keys; active: k2 (default: the last key)
///   columns:                                 # the first match decides
///     - { match: public.customers.email, policy: tokenize }
///     - { match: "public.*.phone", policy: mask, keep_last: 4 }
///     - { match: "*.*.ssn", policy: hash }
///     - { match: public.customers.notes, policy: redact, placeholder: "[removed]" }
///     - { match: public.customers.internal_rating, policy: drop }
///   tables:                                  # approved columns per table; the rest are dropped
///     public.customers: { exclude: [legacy_password] }
/// ```
extension RunConfiguration {
    /// Reads only the `privacy` section of a YAML file (a `run` configuration, say), for `tail`
    /// and `detokenize`.
    public static func loadPrivacy(_ path: String, environment: [String: String]? = nil) throws -> PrivacyPolicy {
        let environment = environment ?? ProcessInfo.processInfo.environment
        guard case .success(let text) = BoundedFile.text(path, limit: 4 << 20) else {
            throw ConfigurationError(file: path, line: nil, message: "cannot read the file: does it exist and is it readable?")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: path, yaml: error, text: text)
        }
        let reader = Reader(file: path, base: (path as NSString).deletingLastPathComponent, environment: environment, requireEnvironment: true)
        guard let root, case .mapping(let mapping) = root, let node = mapping["privacy"] else {
            throw ConfigurationError(file: path, line: 1, message: "there is no privacy section in this file")
        }
        return try reader.privacy(node)
    }
}

extension RunConfiguration.Reader {
    func privacy(_ node: Node) throws -> PrivacyPolicy {
        let section = try mapping(node, "privacy", keys: ["keys", "columns", "tables"])
        var policy = PrivacyPolicy()
        if let columns = section["columns"] {
            guard case .sequence(let rules) = columns else {
                throw fail(columns, "privacy.columns must be a list of { match: schema.table.column, policy: … }")
            }
            for rule in rules {
                policy.rules.append(try self.rule(rule))
            }
        }
        if let tables = section["tables"] {
            guard case .mapping(let entries) = tables else {
                throw fail(tables, "privacy.tables must map schema.table to { include: […] } or { exclude: […] }")
            }
            for (key, value) in entries {
                let table = try string(key, "privacy.tables")
                guard table.split(separator: ".").count == 2 else { throw fail(key, "privacy.tables: '\(table)' is not schema.table") }
                let lists = try mapping(value, "privacy.tables.\(table)", keys: ["include", "exclude"])
                policy.columnFilters[table] = PrivacyPolicy.ColumnFilter(
                    include: try lists["include"].map { Set(try names($0, "privacy.tables.\(table).include")) },
                    exclude: Set(try lists["exclude"].map { try names($0, "privacy.tables.\(table).exclude") } ?? []))
            }
        }
        if let keys = section["keys"] {
            policy.keyring = try keyring(keys)
        } else if policy.needsKeys {
            throw fail(node, "hash and tokenize need keys: add privacy.keys with env: VARIABLE or file: PATH (never the keys themselves)")
        }
        return policy
    }

    private func rule(_ node: Node) throws -> PrivacyPolicy.Rule {
        let fields = try mapping(node, "a privacy.columns entry",
                                 keys: ["match", "policy", "keep_first", "keep_last", "keep_email_domain", "placeholder"])
        let match = try string(try required(fields, "match", in: node, section: "a privacy.columns entry"), "match")
        guard let pattern = ColumnPattern(parsing: match) else {
            throw fail(node, "'\(match)' is not schema.table.column (globs allowed in each part, such as public.*.email)")
        }
        let policyNode = try required(fields, "policy", in: node, section: "a privacy.columns entry")
        let name = try string(policyNode, "policy")
        let allowed: Set<String> = switch name {
        case "mask": ["match", "policy", "keep_first", "keep_last", "keep_email_domain"]
        case "redact": ["match", "policy", "placeholder"]
        default: ["match", "policy"]
        }
        if let extra = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail(node, "\(extra) does not apply to policy \(name)")
        }
        let policy: ColumnPolicy
        switch name {
        case "hash": policy = .hash
        case "tokenize": policy = .tokenize
        case "drop": policy = .drop
        case "redact": policy = .redact(placeholder: try fields["placeholder"].map { try string($0, "placeholder") } ?? ColumnPolicy.defaultPlaceholder)
        case "mask":
            policy = .mask(MaskRule(
                keepFirst: try fields["keep_first"].map { try nonNegativeInt($0, "keep_first") } ?? 0,
                keepLast: try fields["keep_last"].map { try nonNegativeInt($0, "keep_last") } ?? 0,
                keepEmailDomain: try fields["keep_email_domain"].map { try bool($0, "keep_email_domain") } ?? false))
        default:
            throw fail(policyNode, "unknown policy '\(name)'; the policies are hash, tokenize, mask, redact and drop")
        }
        return PrivacyPolicy.Rule(pattern: pattern, policy: policy)
    }

    private func names(_ node: Node, _ name: String) throws -> [String] {
        guard case .sequence(let items) = node else { throw fail(node, "\(name) must be a list of column names") }
        return try items.map { try string($0, name) }
    }

    /// Nil when `env` names an unset variable and the load defers the environment.
    private func keyring(_ node: Node) throws -> PrivacyKeyring? {
        let keys: [String: Node]
        do {
            keys = try mapping(node, "privacy.keys", keys: ["env", "file", "active"])
        } catch var error as ConfigurationError {
            error.message += ". Key material never goes in this file: name an environment variable (env) or a key file (file)"
            throw error
        }
        let active = try keys["active"].map { try string($0, "privacy.keys.active") }
        let text: String
        let source: String
        switch (keys["env"], keys["file"]) {
        case (let envNode?, nil):
            let name = try string(envNode, "privacy.keys.env")
            guard let value = try variable(envNode, setting: "privacy.keys.env", owner: .privacy, hint: "export it (lines or commas of id:base64)") else {
                return nil
            }
            text = value
            source = "$\(name)"
        case (nil, let fileNode?):
            let keyPath = path(try string(fileNode, "privacy.keys.file"))
            var info = stat()
            guard stat(keyPath, &info) == 0 else { throw fail(fileNode, "cannot read the key file \(keyPath)") }
            guard info.st_mode & 0o077 == 0 else {
                throw fail(fileNode, "the key file \(keyPath) is readable by other users: chmod 600 it")
            }
            switch BoundedFile.text(keyPath, limit: 1 << 20) {
            case .success(let contents): text = contents
            case .failure(.unreadable): throw fail(fileNode, "cannot read the key file \(keyPath)")
            case .failure(let failure): throw fail(fileNode, "the key file \(keyPath) " + failure.message)
            }
            source = keyPath
        default:
            throw fail(node, "privacy.keys needs exactly one of env: VARIABLE or file: PATH; keys never go in this file")
        }
        do {
            return try PrivacyKeyring(parsing: text, active: active, source: source)
        } catch {
            throw fail(node, error.message)
        }
    }
}
