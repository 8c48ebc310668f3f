import Foundation
import Logging
import PGReflexCapture
import PGReflexConfig
import PGReflexRuntime
import PGReflexRouter
import PGReflexSchema
import PGReflexTransport
import PGReflexWire
import Testing

/// `pgreflex check` and the commands that read state: what they need from the environment, and
/// what the check finds without connecting (issue 27, items 1, 2, 8 and 10).
@Suite struct CheckTests {
    /// The README's quick-start configuration, with an LLM agent and a SQL tool beside it.
    static let readme = """
        source: { dsn_env: PGREFLEX_DSN, slot: app_slot, publication: app_pub, tables: [public.orders],
                  create_slot: true, create_publication: true }
        journal: { directory: ./journal }
        tools:
          flag_order: { sql_exec: { statement: "UPDATE orders SET flagged = true WHERE id = $1", parameters: [order_id], dsn_env: TOOLS_DSN } }
        agents:
          fraud: { webhook: { url: "https://agents.example.com/fraud", secret_env: FRAUD_WEBHOOK_SECRET } }
          triage: { llm: { base_url: "http://127.0.0.1:9/v1", model: m, api_key_env: LLM_KEY }, actions: [flag_order] }
          quiet: { noop: {} }
        routes:
          fraud_check:
            tables: [public.orders]
            ops: [c]
            if: "double(event.after.total_amount) > 500.0 || event.after.is_first_order"
            agent: fraud
          triage_all: { tables: [public.orders], agent: triage }
          count: { tables: [public.orders], agent: quiet }
        """

    @Test func readOnlyCommandsNeedNoSecretsAndAgentsRefuseWithoutTheirs() throws {
        // Strict (run): the first unset variable is the error, at its line.
        let strict = #expect(throws: ConfigurationError.self) { try RunConfiguration.parse(Self.readme, file: "run.yaml") }
        #expect(strict?.description == "run.yaml:1:20: source.dsn_env names PGREFLEX_DSN, which is not set: export the connection string")

        // Deferred (status, check, dlq list…): loads, and lists what is unset in file order.
        let config = try RunConfiguration.parse(Self.readme, file: "run.yaml", requireEnvironment: false)
        #expect(config.unsetEnvironment.map(\.setting) == [
            "source.dsn_env", "tools.flag_order.sql_exec.dsn_env", "agents.fraud.webhook.secret_env", "agents.triage.llm.api_key_env",
        ])
        #expect(config.source.dsn.isEmpty)

        // An agent that needs nothing is made; one whose secret is unset is refused, by name.
        let logger = Logger(label: "test")
        #expect(try config.makeAgents(["quiet"], decisions: nil, logger: logger).keys.sorted() == ["quiet"])
        let webhook = #expect(throws: ConfigurationError.self) { try config.makeAgents(["fraud"], decisions: nil, logger: logger) }
        #expect(webhook?.message == "agents.fraud.webhook.secret_env names FRAUD_WEBHOOK_SECRET, which is not set: export it (whsec_… secrets, space-separated) (calling agent fraud needs it)")
        // The LLM agent needs its key and its tool's database.
        let environment = ["LLM_KEY": "k", "FRAUD_WEBHOOK_SECRET": "whsec_" + Data("secret-of-the-test".utf8).base64EncodedString()]
        let partly = try RunConfiguration.parse(Self.readme, file: "run.yaml", environment: environment, requireEnvironment: false)
        let tool = #expect(throws: ConfigurationError.self) { try partly.makeAgents(["triage"], decisions: nil, logger: logger) }
        #expect(tool?.message.hasPrefix("tools.flag_order.sql_exec.dsn_env names TOOLS_DSN, which is not set") == true)
        #expect(try partly.makeAgents(["fraud"], decisions: nil, logger: logger).keys.sorted() == ["fraud"])

        // check: warnings by default, errors with --require-env; the secret's value never shows.
        let report = config.check()
        #expect(report.errors.isEmpty)
        #expect(report.warnings.map(\.description) == [
            "run.yaml:1: source.dsn_env names PGREFLEX_DSN, which is not set: export the connection string",
            "run.yaml:5: tools.flag_order.sql_exec.dsn_env names TOOLS_DSN, which is not set: export the connection string",
            "run.yaml:7: agents.fraud.webhook.secret_env names FRAUD_WEBHOOK_SECRET, which is not set: export it (whsec_… secrets, space-separated)",
            "run.yaml:8: agents.triage.llm.api_key_env names LLM_KEY, which is not set: export the API key",
        ])
        #expect(config.check(requireEnvironment: true).errors.count == 4)
        #expect(!partly.check().warnings.map(\.description).joined().contains("secret-of-the-test"))
    }

    @Test func replayWithRoutesOnlyNamesTheRoutesAndTheOutput() throws {
        let config = try RunConfiguration.parse(Self.readme, file: "run.yaml", requireEnvironment: false)
        let error = #expect(throws: ConfigurationError.self) { try config.consumer(named: nil) }
        #expect(error?.message == "no consumer is configured (no sink: or consumers: section): replay through a route with --route "
            + "(one of fraud_check, triage_all, count), or print the events with --output - (or a file)")
    }

    @Test func aRouteTableMissingFromTheSourceIsAnError() throws {
        let typo = try RunConfiguration.parse(Self.readme.replacingOccurrences(of: "triage_all: { tables: [public.orders]", with: "triage_all: { tables: [public.ordres]"),
                                              file: "run.yaml", requireEnvironment: false)
        #expect(typo.check().errors.map(\.message) == [
            "routes.triage_all.tables: public.ordres matches no table of source.tables (public.orders): fix the name, or add the table to source.tables",
        ])
        // A glob that matches a source table is fine.
        let glob = try RunConfiguration.parse(Self.readme.replacingOccurrences(of: "triage_all: { tables: [public.orders]", with: "triage_all: { tables: [\"public.ord*\"]"),
                                              file: "run.yaml", requireEnvironment: false)
        #expect(glob.check().errors.isEmpty)
    }

    @Test func conditionsThatAreNotBoolsAreFoundWithoutARow() throws {
        func findings(_ condition: String, registry: [String: SchemaRegistry.Current]? = nil) throws -> (errors: [String], warnings: [String]) {
            let text = Self.readme.replacingOccurrences(of: "double(event.after.total_amount) > 500.0 || event.after.is_first_order", with: condition)
            let report = try RunConfiguration.parse(text, file: "run.yaml", environment: ["PGREFLEX_DSN": "x", "TOOLS_DSN": "x", "LLM_KEY": "k",
                "FRAUD_WEBHOOK_SECRET": "whsec_" + Data("s".utf8).base64EncodedString()]).check(registry: registry)
            return (report.errors.map(\.message), report.warnings.map(\.message))
        }
        let columns = registry(["public.orders": [("id", .integer), ("total_amount", .decimal), ("is_first_order", .boolean), ("status", .string)]])
        // The README's condition: a bool, with or without the registry.
        #expect(try findings("double(event.after.total_amount) > 500.0 || event.after.is_first_order") == ([], []))
        #expect(try findings("double(event.after.total_amount) > 500.0 || event.after.is_first_order", registry: columns) == ([], []))
        // A string column: an error with the registry, a warning without (its type depends on the row).
        #expect(try findings("event.after.status", registry: columns).errors == [
            "routes.fraud_check.if: the condition is a string, not a bool: compare it, e.g. x != \"\" or double(x) > 500.0",
        ])
        #expect(try findings("event.after.status").warnings.first?.contains("check cannot tell whether the condition is a bool") == true)
        // Literals and operators need no registry.
        #expect(try findings("\\\"yes\\\"").errors.first?.contains("the condition is a string, not a bool") == true)
        #expect(try findings("size(event.after.status) + 1").errors.first?.contains("the condition is a int, not a bool") == true)
        #expect(try findings("event.after.is_first_order && 5").errors == [
            "routes.fraud_check.if: the right operand of && is a int, not a bool: compare it, e.g. x > 0",
        ])
        #expect(try findings("event.after.is_first_order", registry: columns) == ([], []))
        // Ordering a text column and a number has a value only while the text is a number: an
        // error once the registry says the column is text (a migration changed its type).
        #expect(try findings("event.after.status > 500", registry: columns).errors.first?.contains("it orders a string and a number (string and int)") == true)
        #expect(try findings("event.after.status > 500").errors.isEmpty)
        #expect(try findings("event.after.is_first_order < 1.5", registry: columns).errors.first?.contains("a bool and a double cannot be ordered") == true)
        #expect(try findings("event.after.id > 5.5 && event.after.status > \\\"a\\\"", registry: columns) == ([], []))
    }

    @Test func routesAreJudgedAgainstTheVersionTheStreamIsOn() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgreflex-check-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func shape(_ names: [String]) -> TableSchema {
            TableSchema(schema: "public", table: "orders", columns: names.enumerated().map { index, name in
                TableSchema.Column(name: name, position: index + 1, type: "integer", shape: .base("integer", .integer))
            })
        }
        // v1 {id}, v2 {id, note} (added), v3 {id} is v1 again: the stream is back on v1.
        try SchemaRegistry.update(directory: directory) { registry in
            registry.record(shape(["id"]))
            registry.record(shape(["id", "note"]))
            registry.record(shape(["id"]))
            return ()
        }
        let loaded = try SchemaRegistry(directory: directory)
        #expect(loaded.tables["public.orders"]?.versions.count == 2)
        #expect(loaded.currentTables["public.orders"]?.version == 1)
        let index = try String(contentsOfFile: directory + "/index.json", encoding: .utf8)
        #expect(index.contains("\"current\" : 1"))

        let text = Self.readme.replacingOccurrences(of: "double(event.after.total_amount) > 500.0 || event.after.is_first_order", with: "event.after.note > 0")
        let config = try RunConfiguration.parse(text, file: "run.yaml", requireEnvironment: false)
        #expect(config.check(registry: loaded.currentTables).errors.map(\.message) == [
            "routes.fraud_check.if: after.note is not a column of public.orders v1, the version the stream is on; the columns are id",
        ])
        // Back on v2: the route reads a column the stream carries.
        _ = try SchemaRegistry.update(directory: directory) { registry in registry.record(shape(["id", "note"])) }
        let again = try SchemaRegistry(directory: directory)
        #expect(config.check(registry: again.currentTables).errors.isEmpty)
        #expect(try !String(contentsOfFile: directory + "/index.json", encoding: .utf8).contains("current"))
    }
}
