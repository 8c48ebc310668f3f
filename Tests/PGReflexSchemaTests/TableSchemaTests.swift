import Foundation
import PGReflexSchema
import Testing

@Suite struct TableSchemaTests {
    let base = TableSchema(schema: "public", table: "orders", columns: [
        .init(name: "id", position: 1, type: "integer", nullable: false),
        .init(name: "note", position: 2, type: "character varying(20)", typmod: 24),
    ], primaryKey: ["id"])

    @Test func fingerprintIgnoresPositionButNotTypmodNullabilityOrKey() {
        var reordered = base
        reordered.columns = [.init(name: "note", position: 1, type: "character varying(20)", typmod: 24),
                             .init(name: "id", position: 2, type: "integer", nullable: false)]
        #expect(reordered.fingerprint == base.fingerprint)
        var wider = base
        wider.columns[1] = .init(name: "note", position: 2, type: "character varying(30)", typmod: 34)
        #expect(wider.fingerprint != base.fingerprint)
        var required = base
        required.columns[1].nullable = false
        #expect(required.fingerprint != base.fingerprint)
        var keyless = base
        keyless.primaryKey = []
        #expect(keyless.fingerprint != base.fingerprint)
        #expect(base.fingerprint.count == 32)
    }

    @Test func typeMovesAreClassified() {
        func kinds(_ old: String, _ new: String) -> [SchemaChange.Kind] {
            var a = base, b = base
            a.columns[1].type = old
            b.columns[1].type = new
            return b.changes(since: a).map(\.kind)
        }
        #expect(kinds("smallint", "bigint") == [.typeWidened])
        #expect(kinds("bigint", "integer") == [.typeNarrowed])
        #expect(kinds("real", "double precision") == [.typeWidened])
        #expect(kinds("character varying(20)", "text") == [.typeWidened])
        #expect(kinds("text", "character varying(5)") == [.typeNarrowed])
        #expect(kinds("numeric(10,2)", "numeric") == [.typeWidened])
        #expect(kinds("numeric(10,2)", "numeric(9,2)") == [.typeNarrowed])
        #expect(kinds("integer[]", "bigint[]") == [.typeWidened])
        #expect(kinds("integer", "text") == [.typeChanged])
        #expect(kinds("text", "text") == [])
    }

    @Test func aRegistrySavesDeterministicallyAndReadsBack() throws {
        let dir = NSTemporaryDirectory() + "pgreflex-registry-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var registry = try SchemaRegistry(directory: dir)
        #expect(registry.record(base) == (1, true))
        var next = base
        next.columns.append(.init(name: "status", position: 3, type: "public.mood", enumLabels: ["a", "b"]))
        #expect(registry.record(next) == (2, true))
        #expect(registry.record(base) == (1, false))
        registry.setCompatibility(.fullTransitive, for: "public.orders")
        try registry.save()
        let index = try Data(contentsOf: URL(fileURLWithPath: dir + "/index.json"))
        let loaded = try SchemaRegistry(directory: dir)
        #expect(loaded.tables["public.orders"]?.versions == [base, next])
        #expect(loaded.tables["public.orders"]?.compatibility == .fullTransitive)
        try loaded.save()
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/index.json")) == index)

        // A hand-edited version file no longer matches its fingerprint.
        let v1 = dir + "/public.orders/v1.json"
        let edited = try String(contentsOfFile: v1, encoding: .utf8).replacingOccurrences(of: "character varying(20)", with: "text")
        try edited.write(toFile: v1, atomically: true, encoding: .utf8)
        let error = try #require(throws: SchemaRegistryError.self) { try SchemaRegistry(directory: dir) }
        #expect(error.message.contains("edited by hand"))
    }
}
