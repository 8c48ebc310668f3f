internal import CRE2
import Synchronization

/// A compiled RE2 pattern for `matches`. RE2 runs in time linear in the input and has no
/// backtracking, so no row value can stall a route; its syntax is CEL's (no backreferences,
/// no lookaround).
final class CELRegex: @unchecked Sendable {
    // Safe: the pointer is set once in init and freed in deinit; RE2 documents a compiled
    // RE2 object as safe for concurrent matching (its const methods lock what they cache).
    private let compiled: OpaquePointer

    /// Why RE2 refused a pattern, in its own words.
    struct CompileError: Error, Sendable {
        var message: String
    }

    init(_ pattern: String) throws(CompileError) {
        var pattern = pattern
        var error = [CChar](repeating: 0, count: 256)
        let result = pattern.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                pgreflex_re2_compile(chars.baseAddress, chars.count, &error, error.count)
            }
        }
        guard let result else {
            throw CompileError(message: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        compiled = result
    }

    deinit { pgreflex_re2_free(compiled) }

    /// CEL's `matches` is RE2's partial match: the pattern may match anywhere.
    func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                pgreflex_re2_partial_match(compiled, chars.baseAddress, chars.count) != 0
            }
        }
    }
}

/// Patterns that are not literals (read from a row, say), compiled once each. Bounded: a
/// stream of distinct patterns empties it instead of growing it without end.
enum CELRegexCache {
    private static let limit = 256
    private static let cache = Mutex<[String: CELRegex]>([:])

    static func compile(_ pattern: String) throws(CELRegex.CompileError) -> CELRegex {
        if let known = cache.withLock({ $0[pattern] }) { return known }
        let compiled = try CELRegex(pattern)
        cache.withLock {
            if $0.count >= limit { $0.removeAll(keepingCapacity: true) }
            $0[pattern] = compiled
        }
        return compiled
    }
}
