import Foundation
import Testing

/// docs/architecture.md's module table says what each module imports: it must say what
/// Package.swift declares, so the map a newcomer reads is the one the compiler enforces.
struct ArchitectureDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Each target's dependencies among the package's own modules, from Package.swift.
    static func declared() throws -> [String: Set<String>] {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let target = try Regex(#"\.(?:target|executableTarget)\(\s*name: "([^"]+)",(.*?)\n        \),"#).dotMatchesNewlines()
        var result: [String: Set<String>] = [:]
        for match in manifest.matches(of: target) {
            guard let name = match.output[1].substring.map(String.init), let body = match.output[2].substring else { continue }
            var dependencies = Set<String>()
            if let list = body.firstMatch(of: try Regex(#"dependencies: \[(.*?)\]"#).dotMatchesNewlines())?.output[1].substring {
                for quoted in list.matches(of: try Regex(#"(?:^|[\[,\s])"([A-Za-z0-9]+)""#)) {
                    if let module = quoted.output[1].substring { dependencies.insert(String(module)) }
                }
            }
            result[name] = dependencies
        }
        return result
    }

    /// Each module's row: its name and the package modules its "imports" column names.
    static func documented(modules: Set<String>) throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        var result: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let name = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            guard modules.contains(name) else { continue }
            var named = Set<String>()
            for entry in cells[3].split(separator: ",") {
                // "Dispatch (GCRA pacing)": the first word is the module's short name.
                let short = String(entry.split(separator: " ").first ?? "")
                named.formUnion([short, "PGReflex" + short, short == "libpq" ? "CLibPQ" : short])
            }
            result[name] = named.intersection(modules)
        }
        return result
    }

    @Test func theModuleTableMatchesPackageSwift() throws {
        let declared = try Self.declared()
        let modules = Set(declared.keys)
        let documented = try Self.documented(modules: modules)
        // The executable imports everything ("all"); test and fuzz targets are not in the table.
        let expected = modules.filter { $0 != "pgreflex" && $0 != "PGReflexTestSupport" && $0 != "pgreflex-fuzz" && $0 != "journal-append-bench" }
        for module in expected.sorted() {
            let row = try #require(documented[module], "docs/architecture.md has no row for \(module)")
            let own = declared[module, default: []].intersection(modules)
            #expect(row == own, "\(module): the table says \(row.sorted()), Package.swift says \(own.sorted())")
        }
    }
}
