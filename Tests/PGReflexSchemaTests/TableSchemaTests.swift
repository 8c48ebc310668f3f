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

    /// The docs' reading: a NOT NULL column with a constant default is a field with that default,
    /// so dropping it is compatible both ways, as adding it is (issue 27, item 11).
    @Test func droppingANotNullColumnWithAConstantDefaultIsCompatibleBothWays() {
        func table(_ extra: TableSchema.Column?) -> TableSchema {
            TableSchema(schema: "public", table: "t", columns: [TableSchema.Column(name: "id", position: 1, type: "integer", nullable: false)] + (extra.map { [$0] } ?? []))
        }
        let constant = TableSchema.Column(name: "status", position: 2, type: "text", nullable: false, hasDefault: true)
        var volatile = constant
        volatile.volatileDefault = true
        let bare = TableSchema.Column(name: "status", position: 2, type: "text", nullable: false)
        func judged(_ column: TableSchema.Column) -> (Bool, Bool)? {
            table(nil).changes(since: table(column)).first.map { ($0.backwardCompatible, $0.forwardCompatible) }
        }
        #expect(judged(constant)! == (true, true))
        #expect(judged(volatile)! == (true, false))
        #expect(judged(bare)! == (true, false))
        // And the add, for symmetry.
        #expect(table(constant).changes(since: table(nil)).first.map { ($0.backwardCompatible, $0.forwardCompatible) }! == (true, true))
    }

    /// Confluent's mode definitions over Avro's field rules, every mode against every kind of
    /// change: BACKWARD and its transitive form need backward-compatible changes, FORWARD
    /// forward-compatible ones, FULL both, NONE nothing. Pure: the integration test
    /// (SchemaCompatibilityTests) checks each migration against a real database under two modes.
    @Test func everyModeJudgesEveryKindOfChange() {
        func column(_ name: String, _ type: String, nullable: Bool = true, hasDefault: Bool = false, position: Int = 2) -> TableSchema.Column {
            TableSchema.Column(name: name, position: position, type: type, nullable: nullable, hasDefault: hasDefault)
        }
        let id = TableSchema.Column(name: "id", position: 1, type: "integer", nullable: false)
        func table(_ columns: [TableSchema.Column]) -> TableSchema { TableSchema(schema: "public", table: "m", columns: [id] + columns, primaryKey: ["id"]) }
        let cases: [(name: String, old: [TableSchema.Column], new: [TableSchema.Column], backward: Bool, forward: Bool)] = [
            ("add nullable column", [], [column("b", "text")], true, true),
            ("add NOT NULL without default", [], [column("b", "text", nullable: false)], false, true),
            ("add NOT NULL with a constant default", [], [column("b", "text", nullable: false, hasDefault: true)], true, true),
            ("drop nullable column", [column("a", "text")], [], true, true),
            ("drop NOT NULL column", [column("a", "text", nullable: false)], [], true, false),
            ("widen integer to bigint", [column("a", "integer")], [column("a", "bigint")], true, false),
            ("narrow bigint to integer", [column("a", "bigint")], [column("a", "integer")], false, true),
            ("change text to integer", [column("a", "text")], [column("a", "integer")], false, false),
            ("make NOT NULL", [column("a", "text")], [column("a", "text", nullable: false)], false, true),
            ("rename a NOT NULL column", [column("a", "text", nullable: false)], [column("b", "text", nullable: false)], false, false),
        ]
        for (name, old, new, backward, forward) in cases {
            for mode in CompatibilityMode.allCases {
                var registry = SchemaRegistry()
                registry.record(table(old))
                registry.setCompatibility(mode, for: "public.m")
                let passes = switch mode {
                case .backward, .backwardTransitive: backward
                case .forward, .forwardTransitive: forward
                case .full, .fullTransitive: backward && forward
                case .none: true
                }
                let check = SchemaCheck(candidates: [table(new)], registry: registry)
                #expect(check.breaks == !passes, "\(name) under \(mode.rawValue): \(check.findings)")
                #expect(!check.findings.isEmpty, "\(name): the change is reported under \(mode.rawValue) either way")
            }
        }
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
        #expect(kinds("numeric(10,2)", "numeric(12,4)") == [.typeChanged])  // same integer digits: compatible both ways
        #expect(kinds("jsonb", "json") == [.typeChanged])
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

    @Test func pendingVersionsAreTheNewestUntilAcceptedAndSurviveASave() throws {
        let dir = NSTemporaryDirectory() + "pgreflex-registry-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var v2 = base, v3 = base
        v2.columns.append(.init(name: "a", position: 3, type: "text"))
        v3.columns.append(.init(name: "b", position: 4, type: "text"))
        try SchemaRegistry.update(directory: dir) { registry in
            registry.record(base)
            #expect(registry.record(v2, pending: true) == (2, true))
            // Accepted only by `schema accept`: a snapshot's new shape after a pending one is pending too.
            #expect(registry.record(v3) == (3, true))
        }
        #expect(try SchemaRegistry.acceptedVersions(directory: dir) == ["public.orders": 1])
        let index = try String(contentsOfFile: dir + "/index.json", encoding: .utf8)
        #expect(index.components(separatedBy: "\"pending\" : true").count == 3)
        var loaded = try SchemaRegistry(directory: dir)
        #expect(loaded.tables["public.orders"]?.pending == 2...3)

        #expect(throws: SchemaRegistryError.self) { try loaded.accept(table: "public.nope") }
        let notPending = try #require(throws: SchemaRegistryError.self) { try loaded.accept(table: "public.orders", through: 1) }
        #expect(notPending.message.contains("v2 through v3"))
        #expect(try loaded.accept(table: "public.orders", through: 2) == 2...2)
        #expect(loaded.tables["public.orders"]?.pending == 3...3)
        #expect(try loaded.accept(table: "public.orders") == 3...3)
        let nothing = try #require(throws: SchemaRegistryError.self) { try loaded.accept(table: "public.orders") }
        #expect(nothing.message.contains("no pending version"))
        try loaded.save()
        #expect(try SchemaRegistry.acceptedVersions(directory: dir) == ["public.orders": 3])
        #expect(try !String(contentsOfFile: dir + "/index.json", encoding: .utf8).contains("pending"))

        // An accepted version after a pending one is an edit, not something pgreflex writes.
        let edited = try String(contentsOfFile: dir + "/index.json", encoding: .utf8)
            .replacingOccurrences(of: "\"version\" : 2", with: "\"pending\" : true,\n          \"version\" : 2")
        try edited.write(toFile: dir + "/index.json", atomically: true, encoding: .utf8)
        let error = try #require(throws: SchemaRegistryError.self) { try SchemaRegistry(directory: dir) }
        #expect(error.message.contains("follows a pending one"))
    }

    @Test func shapesCountOnlyWhereTheyAddSomethingAndReadBack() throws {
        let mood = TypeShape.enumeration("mood", labels: ["sad", "ok"])
        var plain = base
        plain.columns[0].shape = .base("integer", .integer)
        plain.columns[1].shape = .domain("short_text", .base("character varying(20)", .string))
        // Plain columns keep the fingerprints registries recorded before shapes existed.
        #expect(plain.fingerprint == base.fingerprint)
        var withArray = base
        withArray.columns.append(.init(name: "moods", position: 3, type: "mood[]", shape: .array(mood)))
        var moreLabels = withArray
        moreLabels.columns[2].shape = .array(.enumeration("mood", labels: ["sad", "ok", "happy"]))
        #expect(moreLabels.fingerprint != withArray.fingerprint)
        let change = try #require(moreLabels.changes(since: withArray).first)
        #expect(change.kind == .enumValueAdded && change.backwardCompatible && !change.forwardCompatible)
        #expect(change.detail == "moods[]: added happy")

        let address = TypeShape.composite("addr", attributes: [.init(name: "street", shape: .base("text", .string))])
        var home = base
        home.columns.append(.init(name: "home", position: 3, type: "addr", shape: address))
        var withCity = home
        withCity.columns[2].shape = .composite("addr", attributes: [.init(name: "street", shape: .base("text", .string)),
                                                                     .init(name: "city", shape: .base("text", .string))])
        #expect(withCity.changes(since: home).map(\.kind) == [.attributeAdded])

        let dir = NSTemporaryDirectory() + "pgreflex-registry-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A registry written before shapes: the same table with shapes is the same version, and
        // recording it stores the shapes in that version.
        var registry = try SchemaRegistry(directory: dir)
        registry.record(home.withoutShapes)
        #expect(registry.record(home) == (1, false))
        try registry.save()
        let loaded = try SchemaRegistry(directory: dir)
        #expect(loaded.tables["public.orders"]?.versions == [home])
        #expect(loaded.version(of: withCity) == nil)
    }

    @Test func aTablesFirstVersionIsNeverPending() {
        var registry = SchemaRegistry()
        #expect(registry.record(base, pending: true) == (1, true))
        #expect(registry.tables["public.orders"]?.pending == nil)
        var next = base
        next.columns.append(.init(name: "a", position: 3, type: "text"))
        #expect(registry.record(next, pending: true) == (2, true))
        #expect(registry.tables["public.orders"]?.pending == 2...2)
    }
}
