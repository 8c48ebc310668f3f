import Foundation

#if canImport(Glibc)
import Glibc
#endif

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
        let files = paths.flatMap(filesUnder)
        // Values of 8 bytes or more are found through a table of their first 8 bytes, in one
        // pass per file; shorter ones byte by byte.
        var long: [UInt64: [(String, [UInt8])]] = [:]
        var short: [(String, [UInt8])] = []
        for value in Set(values) where !value.isEmpty {
            let bytes = Array(value.utf8)
            if bytes.count >= 8 {
                long[prefix(bytes, 0), default: []].append((value, bytes))
            } else {
                short.append((value, bytes))
            }
        }
        var hits: [Hit] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            let bytes = [UInt8](data)
            if bytes.count >= 8 {
                for i in 0...(bytes.count - 8) {
                    guard let candidates = long[prefix(bytes, i)] else { continue }
                    for (value, needle) in candidates where i + needle.count <= bytes.count
                        && memcmp(bytes.withUnsafeBufferPointer { $0.baseAddress! + i }, needle, needle.count) == 0 {
                        hits.append(Hit(file: file, value: value, offset: i))
                    }
                }
            }
            for (value, needle) in short where needle.count <= bytes.count {
                for i in 0...(bytes.count - needle.count)
                where memcmp(bytes.withUnsafeBufferPointer { $0.baseAddress! + i }, needle, needle.count) == 0 {
                    hits.append(Hit(file: file, value: value, offset: i))
                }
            }
        }
        return (hits, files.count)
    }

    private static func prefix(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
    }

    private static func filesUnder(_ path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String {
            var directory: ObjCBool = false
            let full = path + "/" + relative
            if FileManager.default.fileExists(atPath: full, isDirectory: &directory), !directory.boolValue { files.append(full) }
        }
        return files
    }
}
