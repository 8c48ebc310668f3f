import Foundation

/// pgreflex's log as tests read it: JSON lines (its default when stderr is not a terminal),
/// each an object of string fields.
public enum LogLines {
    /// Every JSON line's fields, in order; other lines are skipped.
    public static func parse(_ log: String) -> [[String: String]] {
        log.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{"), let data = line.data(using: .utf8),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return object.compactMapValues { $0 as? String }
        }
    }

    /// The last line with this message whose fields include `matching`.
    public static func last(in log: String, message: String, matching: [String: String] = [:]) -> [String: String]? {
        parse(log).last { fields in fields["msg"] == message && matching.allSatisfy { fields[$0.key] == $0.value } }
    }

    /// Whether any line has the field with this value.
    public static func contains(_ log: String, field: String, value: String) -> Bool {
        parse(log).contains { $0[field] == value }
    }

    /// A field's value on the first line that has it.
    public static func first(_ log: String, field: String) -> String? {
        parse(log).lazy.compactMap { $0[field] }.first
    }
}
