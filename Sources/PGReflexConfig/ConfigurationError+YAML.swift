import Foundation
import Yams

extension ConfigurationError {
    /// A YAML syntax error as a message that quotes at most the offending line, with anything
    /// that looks like a secret in it masked. Yams's own description can quote the whole file,
    /// and a configuration file may hold a conninfo password.
    init(file: String, yaml error: YamlError, text: String) {
        let problem: String
        let mark: Mark?
        switch error {
        case .scanner(_, let p, let m, _), .parser(_, let p, let m, _), .composer(_, let p, let m, _):
            (problem, mark) = (p, m)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.sorted().map { "'\(Self.maskSecrets($0))'" }.joined(separator: ", ")
            (problem, mark) = ("a key appears twice in one mapping (\(keys)): keep one", context.mark)
        case .reader(let p, _, _, _):
            (problem, mark) = ("\(p): save the file as UTF-8", nil)
        case .dataCouldNotBeDecoded:
            (problem, mark) = ("the file is not UTF-8 text: save it as UTF-8", nil)
        default:
            (problem, mark) = ("the YAML could not be read", nil)
        }
        var message = "not valid YAML: \(problem)"
        if let mark {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if mark.line >= 1 && mark.line <= lines.count {
                message += " (column \(mark.column)):\n    \(Self.maskSecrets(String(lines[mark.line - 1].prefix(200))))"
            }
        }
        self.init(file: file, line: mark?.line, message: message)
    }

    /// Masks conninfo passwords, URI passwords, and the values of keys named like secrets.
    static func maskSecrets(_ line: String) -> String {
        var masked = line
        let patterns = [
            // password=… in a conninfo string (quoted or not)
            #"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'"]+)"#,
            // postgresql://user:secret@host
            #"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)"#,
            // key: value, where the key names a secret or a set of keys (privacy.keys)
            #"(?i)((?:password|passwd|secret|token|api_key|apikey|private_key|keys?)\s*:\s*)(\S.*)$"#,
            // anything long enough to be key material (base64 or hex of 16 bytes or more)
            #"([A-Za-z0-9+/_-]{20,}={0,2})"#,
        ]
        for pattern in patterns {
            guard let regex = try? NSRegularExpression(pattern: pattern) else { continue }
            let range = NSRange(masked.startIndex..., in: masked)
            let template = switch regex.numberOfCaptureGroups {
            case 3: "$1***$3"
            case 2: "$1***"
            default: "***"
            }
            masked = regex.stringByReplacingMatches(in: masked, range: range, withTemplate: template)
        }
        return masked
    }
}
