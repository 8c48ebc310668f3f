import Foundation
import PGReflexSchema
import PGReflexTestSupport

#if canImport(Glibc)
import Glibc
#endif
import Testing

/// `pgreflex schema snapshot` and `schema check` against a real database: every migration of
/// the compatibility matrix, under BACKWARD and FORWARD.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct SchemaCompatibilityTests {
    /// A migration: `types` runs first, then `CREATE TABLE {t} (setup)`, then `migration`; `{t}`
    /// is the table and `{i}` the case's index (type names are per case).
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var types = ""
        var setup: String
        var migration: String
        var backward: Bool
        var forward: Bool
        var change: String
        var description: String { name }
    }

    /// Confluent's mode definitions with Avro's field rules (a nullable column is a field whose
    /// default is null), and pgreflex's type rules (docs/schemas.md).
    static let cases: [Case] = [
        Case(name: "add nullable column", setup: "id int PRIMARY KEY, a text", migration: "ALTER TABLE {t} ADD COLUMN b text",
             backward: true, forward: true, change: "column_added"),
        Case(name: "add NOT NULL column without default", setup: "id int PRIMARY KEY, a text",
             migration: "ALTER TABLE {t} ADD COLUMN b text NOT NULL", backward: false, forward: true, change: "column_added"),
        Case(name: "add NOT NULL column with a constant default", setup: "id int PRIMARY KEY, a text",
             migration: "ALTER TABLE {t} ADD COLUMN b text NOT NULL DEFAULT 'x'", backward: true, forward: true, change: "column_added"),
        Case(name: "add NOT NULL column with a volatile default", setup: "id int PRIMARY KEY, a text",
             migration: "ALTER TABLE {t} ADD COLUMN b timestamptz NOT NULL DEFAULT clock_timestamp()",
             backward: false, forward: true, change: "column_added"),
        Case(name: "drop nullable column", setup: "id int PRIMARY KEY, a text", migration: "ALTER TABLE {t} DROP COLUMN a",
             backward: true, forward: true, change: "column_dropped"),
        Case(name: "drop NOT NULL column", setup: "id int PRIMARY KEY, a text NOT NULL", migration: "ALTER TABLE {t} DROP COLUMN a",
             backward: true, forward: false, change: "column_dropped"),
        Case(name: "rename NOT NULL column", setup: "id int PRIMARY KEY, a text NOT NULL", migration: "ALTER TABLE {t} RENAME COLUMN a TO b",
             backward: false, forward: false, change: "column_renamed"),
        Case(name: "widen int4 to int8", setup: "id int PRIMARY KEY, a int4", migration: "ALTER TABLE {t} ALTER COLUMN a TYPE int8",
             backward: true, forward: false, change: "type_widened"),
        Case(name: "narrow int8 to int4", setup: "id int PRIMARY KEY, a int8", migration: "ALTER TABLE {t} ALTER COLUMN a TYPE int4",
             backward: false, forward: true, change: "type_narrowed"),
        Case(name: "widen varchar(n)", setup: "id int PRIMARY KEY, a varchar(10)", migration: "ALTER TABLE {t} ALTER COLUMN a TYPE varchar(40)",
             backward: true, forward: false, change: "type_widened"),
        Case(name: "raise numeric precision", setup: "id int PRIMARY KEY, a numeric(10,2)",
             migration: "ALTER TABLE {t} ALTER COLUMN a TYPE numeric(12,2)", backward: true, forward: false, change: "type_widened"),
        Case(name: "change numeric scale, same integer digits", setup: "id int PRIMARY KEY, a numeric(10,2)",
             migration: "ALTER TABLE {t} ALTER COLUMN a TYPE numeric(12,4)", backward: true, forward: true, change: "type_changed"),
        Case(name: "jsonb to json", setup: "id int PRIMARY KEY, a jsonb", migration: "ALTER TABLE {t} ALTER COLUMN a TYPE json",
             backward: true, forward: true, change: "type_changed"),
        Case(name: "add enum value", types: "CREATE TYPE mood_{i} AS ENUM ('sad', 'ok')", setup: "id int PRIMARY KEY, a mood_{i}",
             migration: "ALTER TYPE mood_{i} ADD VALUE 'happy'", backward: true, forward: false, change: "enum_value_added"),
        Case(name: "add a value to an enum used through an array", types: "CREATE TYPE prio_{i} AS ENUM ('low', 'high')",
             setup: "id int PRIMARY KEY, a prio_{i}[]", migration: "ALTER TYPE prio_{i} ADD VALUE 'urgent'",
             backward: true, forward: false, change: "enum_value_added"),
        Case(name: "add an attribute to a composite", types: "CREATE TYPE addr_{i} AS (street text)",
             setup: "id int PRIMARY KEY, home addr_{i}", migration: "ALTER TYPE addr_{i} ADD ATTRIBUTE city text",
             backward: true, forward: true, change: "attribute_added"),
        Case(name: "drop an attribute from a composite", types: "CREATE TYPE pt_{i} AS (x int4, y int4)",
             setup: "id int PRIMARY KEY, p pt_{i}", migration: "ALTER TYPE pt_{i} DROP ATTRIBUTE y",
             backward: true, forward: true, change: "attribute_dropped"),
        Case(name: "change type", setup: "id int PRIMARY KEY, a text", migration: "ALTER TABLE {t} ALTER COLUMN a TYPE int USING length(a)",
             backward: false, forward: false, change: "type_changed"),
        Case(name: "make NOT NULL", setup: "id int PRIMARY KEY, a text", migration: "ALTER TABLE {t} ALTER COLUMN a SET NOT NULL",
             backward: false, forward: true, change: "made_not_null"),
    ]

    func expectedPass(_ test: Case, _ mode: CompatibilityMode) -> Bool {
        switch mode {
        case .backward, .backwardTransitive: test.backward
        case .forward, .forwardTransitive: test.forward
        case .full, .fullTransitive: test.backward && test.forward
        case .none: true
        }
    }

    @Test(arguments: Array(cases.indices))
    func everyMigrationUnderBackwardAndForward(index: Int) throws {
        let test = Self.cases[index]
        let cluster = try PostgresCluster.required()
        let table = "m\(index)"
        func sql(_ text: String) -> String {
            text.replacingOccurrences(of: "{t}", with: table).replacingOccurrences(of: "{i}", with: "\(index)")
        }
        let registry = NSTemporaryDirectory() + "pgreflex-schemas-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: registry) }
        let exe = try pgreflexExecutable()
        if !test.types.isEmpty { try cluster.psql(sql(test.types)) }
        try cluster.psql("CREATE TABLE \(table) (\(sql(test.setup)))")
        let snapshot = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "public.\(table)",
                                            "--registry", registry])
        #expect(snapshot.status == 0, "\(snapshot.output)")
        #expect(snapshot.output.contains("public.\(table)\tv1\tnew version"), "\(snapshot.output)")
        try cluster.psql(sql(test.migration))
        // Two modes against the real database (every mode is the pure TableSchemaTests' job):
        // the default, and the one that judges the other direction.
        for mode in [CompatibilityMode.backward, .forward] {
            var store = try SchemaRegistry(directory: registry)
            store.setCompatibility(mode, for: "public.\(table)")
            try store.save()
            let check = PostgresCluster.run([exe, "schema", "check", "--dsn", cluster.conninfo, "--tables", "public.\(table)",
                                             "--registry", registry])
            let passes = expectedPass(test, mode)
            #expect(check.status == (passes ? 0 : 1), "\(test.name) under \(mode.rawValue): \(check.output)")
            #expect(check.output.contains(test.change), "\(test.name) under \(mode.rawValue): \(check.output)")
            if !passes {
                #expect(check.output.contains("BREAKING public.\(table)"), "\(check.output)")
            }
        }
        // The JSON report says the same.
        let json = PostgresCluster.run([exe, "schema", "check", "--dsn", cluster.conninfo, "--tables", "public.\(table)",
                                        "--registry", registry, "--format", "json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let findings = try #require(report["findings"] as? [[String: Any]])
        #expect(findings.contains { $0["change"] as? String == test.change && $0["table"] as? String == "public.\(table)" })
        #expect(report["compatible"] as? Bool == test.forward, "the last mode set was FORWARD: \(json.output)")
        // The migration made a new version: snapshot records it.
        let after = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "public.\(table)",
                                         "--registry", registry])
        #expect(after.output.contains("public.\(table)\tv2\tnew version"), "\(test.name): \(after.output)")
    }

    /// `schema check --config`: a migration that drops or renames a column a route or a prompt
    /// template reads, or changes a type so that a comparison no longer holds, is a break at
    /// the setting's file:line, beside the table's own findings.
    @Test func aMigrationThatBreaksARouteOrATemplateFailsAtItsLine() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE routed (id int PRIMARY KEY, total numeric, note text, customer_id int)")
        let exe = try pgreflexExecutable()
        let root = NSTemporaryDirectory() + "pgreflex-routed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let config = root + "/run.yaml"
        try """
            source: { dsn_env: ROUTED_DSN, slot: s, publication: p }
            journal: { directory: ./journal }
            agents:
              review:
                llm:
                  base_url: http://127.0.0.1:1/v1
                  model: m
                  prompt: |
                    Order {{event.after.id}}
                    Note: {{event.after.note}}
            routes:
              big:
                tables: [public.routed]
                if: "event.after.total > 500"
                debounce: { period: 1s, key: "string(event.after.customer_id)" }
                agent: review
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let snapshot = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "public.routed", "--registry", root + "/Schemas"])
        #expect(snapshot.status == 0, "\(snapshot.output)")
        let check = [exe, "schema", "check", "--dsn", cluster.conninfo, "--tables", "public.routed", "--registry", root + "/Schemas", "--config", config]
        let before = PostgresCluster.run(check)
        #expect(before.status == 0 && before.output.contains("the routes and templates of \(config) read only what the tables have"), "\(before.output)")
        try cluster.psql("ALTER TABLE routed DROP COLUMN note; ALTER TABLE routed RENAME COLUMN customer_id TO buyer_id; ALTER TABLE routed ALTER COLUMN total TYPE text")
        let after = PostgresCluster.run(check)
        #expect(after.status == 1, "\(after.output)")
        #expect(after.output.contains("BREAKING \(config):10:"), "the template's line: \(after.output)")
        #expect(after.output.contains("agents.review.llm.prompt: {{event.after.note}} reads note, which is not a column of public.routed"), "\(after.output)")
        #expect(after.output.contains("BREAKING \(config):15:") && after.output.contains("routes.big.debounce.key: after.customer_id is not a column"), "\(after.output)")
        #expect(after.output.contains("BREAKING \(config):14:") && after.output.contains("routes.big.if:"), "the comparison of text with a number: \(after.output)")
        #expect(after.output.contains("schema check: 3 breaks in the routes and templates of \(config)"), "\(after.output)")
        // The same in JSON, for tools.
        let json = PostgresCluster.run(check + ["--format", "json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any], "\(json.output)")
        #expect((report["route_breaks"] as? [[String: Any]])?.count == 3 && report["compatible"] as? Bool == false, "\(json.output)")
    }

    @Test func checkRefusesAMissingOrEmptyRegistry() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE gate_a (id int PRIMARY KEY); CREATE TABLE gate_b (id int PRIMARY KEY)")
        let exe = try pgreflexExecutable()
        let root = NSTemporaryDirectory() + "pgreflex-gate-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let check = [exe, "schema", "check", "--dsn", cluster.conninfo, "--tables", "public.gate_a,public.gate_b"]
        let missing = PostgresCluster.run(check + ["--registry", root + "/Nope"])
        #expect(missing.status == 1, "\(missing.output)")
        #expect(missing.output.contains("index.json"), "\(missing.output)")
        #expect(!FileManager.default.fileExists(atPath: root + "/Nope"), "check created the registry it was pointed at")

        let registry = root + "/Schemas"
        try FileManager.default.createDirectory(atPath: registry, withIntermediateDirectories: true)
        try #"{"format":1,"tables":{}}"#.write(toFile: registry + "/index.json", atomically: true, encoding: .utf8)
        let empty = PostgresCluster.run(check + ["--registry", registry])
        #expect(empty.status == 1, "\(empty.output)")
        #expect(empty.output.contains("--allow-empty"), "\(empty.output)")
        #expect(PostgresCluster.run(check + ["--registry", registry, "--allow-empty"]).status == 0)

        let snapshot = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "public.gate_a", "--registry", registry])
        #expect(snapshot.status == 0, "\(snapshot.output)")
        let partial = PostgresCluster.run(check + ["--registry", registry])
        #expect(partial.status == 0, "\(partial.output)")
        #expect(partial.output.contains("UNREGISTERED public.gate_b"), "\(partial.output)")
        let strict = PostgresCluster.run(check + ["--registry", registry, "--require-registered"])
        #expect(strict.status == 1, "\(strict.output)")
    }

    @Test func transitiveModesCheckEveryEarlierVersion() throws {
        let cluster = try PostgresCluster.required()
        let registry = NSTemporaryDirectory() + "pgreflex-schemas-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: registry) }
        let exe = try pgreflexExecutable()
        let snapshot = [exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "public.tr", "--registry", registry]
        try cluster.psql("CREATE TABLE tr (id int PRIMARY KEY, a int)")
        #expect(PostgresCluster.run(snapshot).output.contains("v1\tnew version"))
        try cluster.psql("ALTER TABLE tr DROP COLUMN a")
        #expect(PostgresCluster.run(snapshot).output.contains("v2\tnew version"))
        // Compared with v2 this only adds a nullable column; compared with v1 it changes a's type.
        try cluster.psql("ALTER TABLE tr ADD COLUMN a text")
        for (mode, status) in [(CompatibilityMode.backward, Int32(0)), (.backwardTransitive, 1)] {
            var store = try SchemaRegistry(directory: registry)
            store.setCompatibility(mode, for: "public.tr")
            try store.save()
            let check = PostgresCluster.run([exe, "schema", "check", "--dsn", cluster.conninfo, "--registry", registry])
            #expect(check.status == status, "\(mode.rawValue): \(check.output)")
            if status == 1 { #expect(check.output.contains("type_changed (integer → text) under BACKWARD_TRANSITIVE against v1")) }
        }
    }

    @Test func snapshotIsDeterministicAndCheckAgainstAnotherRegistry() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE SCHEMA shop;
            CREATE TYPE shop.status AS ENUM ('new', 'paid', 'shipped');
            CREATE TABLE shop.orders (id bigserial PRIMARY KEY, customer text NOT NULL, total numeric(12,2), status shop.status,
                                      tags text[], placed timestamptz DEFAULT now(), doc jsonb);
            CREATE TABLE shop.lines ("order" bigint, line int, sku varchar(32), qty int NOT NULL, PRIMARY KEY ("order", line));
            ALTER TABLE shop.lines REPLICA IDENTITY FULL;
            """)
        let exe = try pgreflexExecutable()
        let first = NSTemporaryDirectory() + "pgreflex-schemas-\(UUID().uuidString)"
        let second = NSTemporaryDirectory() + "pgreflex-schemas-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: first)
            try? FileManager.default.removeItem(atPath: second)
        }
        func files(_ dir: String) throws -> [String: Data] {
            var out: [String: Data] = [:]
            for name in FileManager.default.subpaths(atPath: dir) ?? [] {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDir), !isDir.boolValue {
                    out[name] = FileManager.default.contents(atPath: dir + "/" + name)
                }
            }
            return out
        }
        for dir in [first, second] {
            let run = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "shop.orders,shop.lines",
                                           "--registry", dir])
            #expect(run.status == 0, "\(run.output)")
        }
        let a = try files(first)
        #expect(a.keys.sorted() == ["index.json", "shop.lines/v1.json", "shop.orders/v1.json"])
        #expect(a == (try files(second)), "two snapshots of one database are byte-identical")
        let again = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "shop.orders,shop.lines",
                                         "--registry", first])
        #expect(again.output.contains("shop.orders\tv1\tunchanged"))
        #expect(a == (try files(first)))

        let orders = try #require(try JSONSerialization.jsonObject(with: a["shop.orders/v1.json"]!) as? [String: Any])
        #expect(orders["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        // The file validates events: row images under $defs.row, the version stamped in source.
        let row = try #require((orders["$defs"] as? [String: Any])?["row"] as? [String: Any])
        let identity = try #require((orders["$defs"] as? [String: Any])?["identity"] as? [String: Any])
        let properties = try #require(identity["properties"] as? [String: [String: Any]])
        #expect(properties["id"]?["type"] as? String == "integer")
        let total = try #require(properties["total"]?["anyOf"] as? [[String: Any]])
        #expect(total.map { $0["type"] as? String } == ["string", "null"])
        let status = try #require(properties["status"]?["anyOf"] as? [[String: Any]])
        #expect(status.first?["enum"] as? [String] == ["new", "paid", "shipped"])
        #expect(row["required"] as? [String] == ["customer", "id"])
        let source = try #require((orders["properties"] as? [String: Any])?["source"] as? [String: Any])
        #expect(((source["properties"] as? [String: Any])?["schema_version"] as? [String: Any])?["const"] as? Int == 1)

        // A registry from another branch: the migration there narrowed a column.
        try cluster.psql("ALTER TABLE shop.lines ALTER COLUMN sku TYPE varchar(16)")
        let run = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "shop.lines", "--registry", second])
        #expect(run.output.contains("shop.lines\tv2\tnew version"))
        let check = PostgresCluster.run([exe, "schema", "check", "--against", second, "--registry", first])
        #expect(check.status == 1)
        #expect(check.output.contains("BREAKING shop.lines.sku: type_narrowed (character varying(32) → character varying(16)) under BACKWARD"),
                "\(check.output)")
    }
}

/// Schema versions on events: an ALTER TABLE in the middle of the stream gives the next event the
/// new version, and the events before it keep the old one.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct SchemaVersionStreamTests {
    @Test func anAlterMidStreamBumpsTheVersionFromTheNextEvent() throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("CREATE TABLE sv (id int PRIMARY KEY, a text NOT NULL); CREATE PUBLICATION sv_pub FOR TABLE sv;")
        try cluster.createSlot("sv_slot")
        let registry = NSTemporaryDirectory() + "pgreflex-schemas-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: registry) }
        let exe = try pgreflexExecutable()
        // The reviewed registry knows the starting shape.
        let snapshot = PostgresCluster.run([exe, "schema", "snapshot", "--dsn", cluster.conninfo, "--tables", "public.sv", "--registry", registry])
        #expect(snapshot.status == 0, "\(snapshot.output)")
        try cluster.psql("INSERT INTO sv VALUES (1, 'a'), (2, 'b')")
        try cluster.psql("BEGIN; INSERT INTO sv VALUES (3, 'c'); ALTER TABLE sv ADD COLUMN b int; INSERT INTO sv VALUES (4, 'd', 4); COMMIT;")
        try cluster.psql("INSERT INTO sv VALUES (5, 'e', 5)")
        try cluster.psql("ALTER TABLE sv ALTER COLUMN b TYPE bigint")
        try cluster.psql("UPDATE sv SET b = 6 WHERE id = 5")
        let end = try cluster.currentInsertLSN()
        let (tail, lines) = try tailExecutable(cluster, ["--slot", "sv_slot", "--publication", "sv_pub", "--registry", registry,
                                                         "--end-lsn", "\(end)"])
        #expect(tail.status == 0, "\(tail.output)")
        let versions = lines.map { $0.source["schema_version"] as? Int }
        #expect(versions == [1, 1, 1, 2, 2, 3], "\(versions)")
        #expect(tail.output.contains("recorded a new schema version"), "\(tail.output)")
        let store = try SchemaRegistry(directory: registry)
        let table = try #require(store.tables["public.sv"])
        #expect(table.versions.count == 3)
        #expect(table.versions[1].column(named: "b")?.type == "integer")
        #expect(table.versions[2].column(named: "b")?.type == "bigint")
        // The registry's v1 came from the catalog, the stream matched it: same fingerprint, no extra version.
        #expect(table.versions[0].columns.map(\.name) == ["id", "a"])
        // A table dropped after its changes were written: its events still arrive, versioned.
        try cluster.psql("CREATE TABLE sv_gone (id int PRIMARY KEY); ALTER PUBLICATION sv_pub ADD TABLE sv_gone;")
        try cluster.psql("INSERT INTO sv_gone VALUES (1)")
        let goneEnd = try cluster.currentInsertLSN()
        try cluster.psql("DROP TABLE sv_gone")
        let (gone, goneLines) = try tailExecutable(cluster, ["--slot", "sv_slot", "--publication", "sv_pub", "--registry", registry,
                                                             "--end-lsn", "\(goneEnd)"])
        #expect(gone.status == 0, "\(gone.output)")
        #expect(goneLines.map(\.table) == ["sv_gone"])
        #expect(goneLines.first?.source["schema_version"] as? Int == 1)

        // The live sv is the latest version: nothing to report. The dropped table is a break.
        let check = PostgresCluster.run([exe, "schema", "check", "--dsn", cluster.conninfo, "--registry", registry, "--tables", "public.sv"])
        #expect(check.status == 0, "\(check.output)")
        let whole = PostgresCluster.run([exe, "schema", "check", "--dsn", cluster.conninfo, "--registry", registry])
        #expect(whole.status == 1 && whole.output.contains("BREAKING public.sv_gone: table_dropped"), "\(whole.output)")
    }
}
