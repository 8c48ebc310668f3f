import Foundation

/// Looks for plaintext values in every file under some paths (recursively, binary files too).
/// The privacy tests scan everything pgreflex wrote; later outputs (the dead-letter queue, agent
/// payloads) join the same scan.
public enum LeakScan {
    public struct Hit: Sendable, CustomStringConvertible {
        public var file: String
        public var value: String
        public var offset: Int
        public var description: String { "\(file) at byte \(offset): \(value)" }
    }

    /// Every occurrence of any of `values` in the files under `paths` (files or directories).
    /// Also returns how many files were scanned, so a test can check it scanned something.
    public static func scan(_ paths: [String], for values: [String]) -> (hits: [Hit], files: Int) {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                let enumerator = FileManager.default.enumerator(atPath: path)
                while let relative = enumerator?.nextObject() as? String {
                    var dir: ObjCBool = false
                    let full = path + "/" + relative
                    if FileManager.default.fileExists(atPath: full, isDirectory: &dir), !dir.boolValue { files.append(full) }
                }
            } else {
                files.append(path)
            }
        }
        let needles = values.filter { !$0.isEmpty }.map { ($0, Array($0.utf8)) }
        var hits: [Hit] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            let bytes = [UInt8](data)
            // Index the first byte of each needle, then compare only there: one pass per file.
            var byFirst: [UInt8: [(String, [UInt8])]] = [:]
            for needle in needles { byFirst[needle.1[0], default: []].append(needle) }
            for i in bytes.indices {
                guard let candidates = byFirst[bytes[i]] else { continue }
                for (value, needle) in candidates where i + needle.count <= bytes.count
                    && bytes[i..<(i + needle.count)].elementsEqual(needle) {
                    hits.append(Hit(file: file, value: value, offset: i))
                }
            }
        }
        return (hits, files.count)
    }
}
