import Foundation
import PGReflexCapture
import PGReflexConfig
import PGReflexEnvelope
import PGReflexSchema
import PGReflexTestSupport
import PGReflexTransport
import PGReflexWire
import Testing

/// Every type the envelope maps, written in several rows (typical values, NULL everywhere,
/// extremes) and compared with `to_jsonb` of the same row in the same database. Where pgreflex
/// deliberately differs from to_jsonb, the reference expression says how (see docs/types.md).
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct TypeMappingTests {
    /// Column, SQL type, and the reference expression (to_jsonb plus the documented normalization).
    static let columns: [(name: String, type: String, reference: String)] = [
        ("c_int2", "int2", "to_jsonb(c_int2)"),
        ("c_int4", "int4", "to_jsonb(c_int4)"),
        ("c_int8", "int8", "to_jsonb(c_int8)"),
        ("c_float4", "float4", "to_jsonb(c_float4)"),
        ("c_float8", "float8", "to_jsonb(c_float8)"),
        ("c_numeric", "numeric", "to_jsonb(c_numeric::text)"),  // exact decimal string
        ("c_numeric_fixed", "numeric(12,3)", "to_jsonb(c_numeric_fixed::text)"),
        ("c_money", "money", "to_jsonb(c_money::numeric::text)"),  // currency symbol and separators dropped
        ("c_bool", "bool", "to_jsonb(c_bool)"),
        ("c_text", "text", "to_jsonb(c_text)"),
        ("c_varchar", "varchar(40)", "to_jsonb(c_varchar)"),
        ("c_char", "char(5)", "to_jsonb(c_char)"),
        ("c_bytea", "bytea", "to_jsonb(replace(encode(c_bytea, 'base64'), E'\\n', ''))"),  // base64
        ("c_uuid", "uuid", "to_jsonb(c_uuid)"),
        ("c_json", "json", "to_jsonb(c_json)"),
        ("c_jsonb", "jsonb", "to_jsonb(c_jsonb)"),
        ("c_date", "date", "to_jsonb(c_date)"),
        ("c_time", "time", "to_jsonb(c_time)"),
        ("c_timetz", "timetz", "to_jsonb((c_timetz AT TIME ZONE 'UTC')::time::text || 'Z')"),  // in UTC
        ("c_timestamp", "timestamp", "to_jsonb(c_timestamp)"),
        ("c_timestamptz", "timestamptz", "to_jsonb(c_timestamptz)"),  // +00:00 written as Z
        ("c_interval", "interval", "to_jsonb(c_interval)"),  // ISO-8601 (IntervalStyle iso_8601)
        ("c_int_array", "int[]", "to_jsonb(c_int_array)"),
        ("c_matrix", "int[][]", "to_jsonb(c_matrix)"),
        ("c_text_array", "text[]", "to_jsonb(c_text_array)"),
        ("c_numeric_array", "numeric[]", "to_jsonb(c_numeric_array::text[])"),
        ("c_tstz_array", "timestamptz[]", "to_jsonb(c_tstz_array)"),
        ("c_bool_array", "bool[]", "to_jsonb(c_bool_array)"),
        ("c_enum", "mood", "to_jsonb(c_enum)"),
        ("c_enum_array", "mood[]", "to_jsonb(c_enum_array)"),
        ("c_domain", "posint", "to_jsonb(c_domain)"),
        ("c_composite", "pair", "to_jsonb(c_composite)"),
        ("c_composite_array", "pair[]", "to_jsonb(c_composite_array)"),
        ("c_inet", "inet", "to_jsonb(c_inet)"),
        ("c_cidr", "cidr", "to_jsonb(c_cidr)"),
        ("c_macaddr", "macaddr", "to_jsonb(c_macaddr)"),
        ("c_hstore", "hstore", "to_jsonb(c_hstore)"),
        ("c_int4range", "int4range", "to_jsonb(c_int4range)"),
        ("c_tstzrange", "tstzrange", "to_jsonb(c_tstzrange)"),
        ("c_tsvector", "tsvector", "to_jsonb(c_tsvector)"),
        ("c_point", "point", "to_jsonb(c_point)"),  // no mapping: text form, with one warning
    ]

    /// The user types the columns use, created once per cluster whichever test runs first.
    static let types = """
        SET client_min_messages = warning;
        CREATE EXTENSION IF NOT EXISTS hstore;
        DO $$ BEGIN
            CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
            CREATE DOMAIN posint AS int CHECK (VALUE > 0);
            CREATE TYPE pair AS (a int, b text);
        EXCEPTION WHEN duplicate_object THEN NULL;
        END $$;
        """

    static let rows = [
        // typical values, unicode, quotes, escapes
        """
        (1, 1, 2, 3, 1.5, 2.25, 123.456, 1.500, '1234.56', true, 'héllo "wörld" \\ ✓', 'varchar', 'ab',
         '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1, "a": [true, null]}', '{"k": {"n": 1.5}}',
         '2024-02-29', '12:34:56.789', '12:34:56.789+05:30', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+02',
         '1 year 2 months 3 days 04:05:06.7', '{1,2,3}', '{{1,2},{3,4}}', '{"a b","c,d","e\\"f",NULL,"NULL"}',
         '{1.10,-2}', '{"2024-01-01 00:00:00+00"}', '{t,f,NULL}', 'happy', '{sad,ok}', 5, '(7,"x, \\"y\\"")',
         ARRAY[ROW(1,'a')::pair, ROW(NULL,NULL)::pair], '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
         '"a"=>"1", "b c"=>NULL, "q\\"k"=>"v\\"v"', '[1,5)', '[2024-01-01 00:00:00+00,2024-02-01 00:00:00+00)',
         'a fat cat', '(1,2)')
        """,
        // NULL in every column
        "(2" + String(repeating: ", NULL", count: columns.count) + ")",
        // extremes: bounds, special floats, huge and negative numerics, empty arrays and strings, infinities
        """
        (3, -32768, 2147483647, -9223372036854775808, 'NaN', '-Infinity', '-123456789012345678901234567890.123456789',
         -999999999.999, '-92233720368547758.08', false, '', '', '', '\\x', '00000000-0000-0000-0000-000000000000',
         '[]', '{}', 'infinity', '00:00:00', '23:59:59.999999-12', '-infinity', 'infinity', '-1 year -2 days',
         '{}', '{{NULL,2},{3,NULL}}', '{}', '{NaN}', '{}', '{}', 'sad', '{}', 1, '(,)', '{}', '::1', '::/0',
         'ff:ff:ff:ff:ff:ff', '', 'empty', '(,)', '', '(0,0)')
        """,
        // more extremes: the other special floats, large float exponents, a one-element matrix
        """
        (4, 32767, -2147483648, 9223372036854775807, 'Infinity', 'NaN', '0.000000000000000000001', 0, '0', true,
         repeat('long ', 400), 'x', 'abcde', '\\xdeadbeef', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'null', '[1, "2"]',
         '1970-01-01', '24:00:00', '00:00:00+00', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00', '0 seconds',
         '{-1}', '{{{1}}}', '{"}"}', '{-0.5}', '{infinity}', '{t}', 'ok', '{happy}', 2147483647, '(-1,"")', '{"(2,b)"}',
         '0.0.0.0', '192.168.100.128/25', '00:00:00:00:00:00', '"k"=>""', '(,)', '(,)', '''a b''', '(-1.5,1e300)')
        """,
    ]

    @Test func everyTypeMatchesToJsonbOfTheSameRow() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql(Self.types)
        try cluster.psql("""
            CREATE TABLE types_all (id int PRIMARY KEY, \(Self.columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ")));
            CREATE PUBLICATION types_pub FOR TABLE types_all;
            """)
        try cluster.createSlot("types_slot")
        for row in Self.rows { try cluster.psql("INSERT INTO types_all VALUES \(row)") }
        var options = CapturePipeline.Options(source: .init(dsn: cluster.conninfo, slot: "types_slot", publication: "types_pub"),
                                           endLSN: try cluster.currentInsertLSN())
        options.decimalHandling = .string
        let lines = try await runTail(options).lines
        #expect(lines.count == Self.rows.count)

        let reference = try cluster.psql("""
            SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601';
            SELECT jsonb_build_object('id', id, \(Self.columns.map { "'\($0.name)', \($0.reference)" }.joined(separator: ", ")))
            FROM types_all ORDER BY id
            """)
        let expected = try reference.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        #expect(expected.count == lines.count)
        var mismatches: [String] = []
        for (line, want) in zip(lines, expected) {
            let got = try #require(line.after)
            for column in Self.columns {
                let ours = Self.normalize(got[column.name] ?? NSNull())
                let theirs = Self.normalize(want[column.name] ?? NSNull())
                if Self.canonical(ours) != Self.canonical(theirs) {
                    mismatches.append("row \(want["id"]!) \(column.name): ours \(ours) reference \(theirs)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")

        // Spot checks, so that a vacuous comparison cannot pass.
        let first = try #require(lines.first?.after)
        #expect(first["c_timetz"] as? String == "07:04:56.789Z")
        #expect(first["c_timestamptz"] as? String == "2024-02-29T10:34:56.789Z")
        #expect(first["c_timestamp"] as? String == "2024-02-29T12:34:56.789")
        #expect(first["c_interval"] as? String == "P1Y2M3DT4H5M6.7S")
        #expect(first["c_bytea"] as? String == "AP8Q")
        #expect(first["c_money"] as? String == "1234.56")
        #expect(first["c_numeric"] as? String == "123.456")
        #expect(first["c_matrix"] as? [[Int]] == [[1, 2], [3, 4]])
        #expect((first["c_text_array"] as? [Any])?.count == 5)
        #expect((first["c_composite"] as? [String: Any])?["b"] as? String == "x, \"y\"")
        #expect((first["c_hstore"] as? [String: Any])?["b c"] is NSNull)
        #expect(first["c_domain"] as? Int == 5)
        #expect(first["c_point"] as? String == "(1,2)")
        let extremes = try #require(lines[2].after)
        #expect(extremes["c_int8"] as? Int == Int.min)
        #expect(extremes["c_float4"] as? String == "NaN")
        #expect(extremes["c_float8"] as? String == "-Infinity")
        #expect(extremes["c_numeric"] as? String == "-123456789012345678901234567890.123456789")
        #expect(extremes["c_timestamptz"] as? String == "infinity")
        #expect(lines[1].after?.values.filter { !($0 is NSNull) }.count == 1)  // only the id
    }

    /// The registry is the contract consumers code against: every event of every type validates
    /// against its version's JSON Schema, with a validator that is not pgreflex's (Python's
    /// jsonschema). Inserts, updates, deletes under the default and the full replica identity,
    /// unchanged TOASTed values, and a generated column (which pgoutput does not send: the
    /// registry must not describe it, or the first event would make a false version 2).
    @Test func everyEventValidatesAgainstItsVersionsJSONSchema() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql(Self.types)
        try cluster.psql("""
            CREATE TABLE js_types (id int PRIMARY KEY, \(Self.columns.map { "\($0.name) \($0.type)" }.joined(separator: ", ")));
            CREATE TABLE js_full (id int PRIMARY KEY, n int NOT NULL, big text, tags text[], p pair,
                                  doubled int GENERATED ALWAYS AS (n * 2) STORED);
            ALTER TABLE js_full REPLICA IDENTITY FULL;
            CREATE TABLE js_toast (id int PRIMARY KEY, n int, big text, tags text[], h hstore);
            CREATE PUBLICATION js_pub FOR TABLE js_types, js_full, js_toast;
            """)
        let registry = NSTemporaryDirectory() + "pgreflex-js-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: registry) }
        let snapshot = PostgresCluster.run([try pgreflexExecutable(), "schema", "snapshot", "--dsn", cluster.conninfo,
                                            "--tables", "public.js_types,public.js_full,public.js_toast", "--registry", registry])
        #expect(snapshot.status == 0, "\(snapshot.output)")
        try cluster.createSlot("js_slot")
        for row in Self.rows { try cluster.psql("INSERT INTO js_types VALUES \(row)") }
        // Incompressible, so it is stored out of line: an update that leaves it alone sends it as unchanged TOAST.
        try cluster.psql("""
            UPDATE js_types SET c_int4 = 7 WHERE id = 1;
            UPDATE js_types SET id = 10 WHERE id = 3;
            DELETE FROM js_types WHERE id = 2;
            INSERT INTO js_full VALUES (1, 1, (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i),
                                        (SELECT array_agg(md5(i::text)) FROM generate_series(1, 400) i), ROW(1, 'x'));
            UPDATE js_full SET n = 2 WHERE id = 1;
            DELETE FROM js_full WHERE id = 1;
            INSERT INTO js_toast VALUES (1, 1, (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i),
                                         (SELECT array_agg(md5(i::text)) FROM generate_series(1, 400) i),
                                         (SELECT hstore(array_agg(md5(i::text)), array_agg(md5((i + 1)::text))) FROM generate_series(1, 400) i));
            UPDATE js_toast SET n = 2 WHERE id = 1;
            """)
        var options = CapturePipeline.Options(source: .init(dsn: cluster.conninfo, slot: "js_slot", publication: "js_pub"),
                                           endLSN: try cluster.currentInsertLSN())
        options.schemaRegistry = registry
        let lines = try await runTail(options).lines
        // A key-changing update is a delete and a create, as Debezium writes it.
        #expect(lines.count == Self.rows.count + 4 + 3 + 2, "\(lines.map { "\($0.table ?? "") \($0.op)" })")
        // The generated column is not in the stream, and the snapshot agreed: no version 2.
        #expect(lines.allSatisfy { $0.source["schema_version"] as? Int == 1 }, "\(lines.map { $0.source["schema_version"] ?? "-" })")
        #expect(try SchemaRegistry(directory: registry).tables["public.js_full"]?.versions.count == 1)
        // What the test means to cover did happen.
        #expect(lines.contains { $0.table == "js_types" && $0.op == "d" && $0.before?.count == 1 })
        #expect(lines.contains { $0.table == "js_toast" && $0.op == "u" && ($0.after?["tags"] as? String) == "__debezium_unavailable_value" })
        let failures = try validateAgainstRegistry(lines, registry: registry)
        #expect(failures.isEmpty, "\(failures.prefix(20).joined(separator: "\n"))")
    }

    static func canonical(_ value: Any) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
    }

    /// pgvector is not packaged for this machine's Debian, so the real extension cannot be tested
    /// here. This stand-in is a type named `vector` whose text forms are pgvector's (`[1,2,3]`):
    /// it exercises the by-name mapping through the real wire and catalog.
    @Test func aTypeNamedVectorBecomesAnArrayOfFloats() async throws {
        let cluster = try PostgresCluster.required()
        try cluster.psql("""
            CREATE SCHEMA vec; CREATE TYPE vec.vector AS ENUM ('[1,2.5,-3]', '[0.125]');
            CREATE TABLE vectors (id int PRIMARY KEY, embedding vec.vector, many vec.vector[]);
            CREATE PUBLICATION vec_pub FOR TABLE vectors;
            """)
        try cluster.createSlot("vec_slot")
        try cluster.psql("INSERT INTO vectors VALUES (1, '[1,2.5,-3]', ARRAY['[0.125]'::vec.vector])")
        let lines = try await runTail(CapturePipeline.Options(source: .init(dsn: cluster.conninfo, slot: "vec_slot", publication: "vec_pub"),
                                                           endLSN: try cluster.currentInsertLSN())).lines
        #expect(lines.first?.after?["embedding"] as? [Double] == [1, 2.5, -3])
        #expect(lines.first?.after?["many"] as? [[Double]] == [[0.125]])
    }

    /// to_jsonb writes UTC timestamps with +00:00; pgreflex with Z.
    static func normalize(_ value: Any) -> Any {
        switch value {
        case let string as String where string.hasSuffix("+00:00"): return String(string.dropLast(6)) + "Z"
        case let array as [Any]: return array.map(normalize)
        case let object as [String: Any]: return object.mapValues(normalize)
        default: return value
        }
    }
}
