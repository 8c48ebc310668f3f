import Foundation
import PGReflexAgents
import PGReflexCapture
import PGReflexConfig
import PGReflexDelivery
import PGReflexDispatch
import PGReflexJournal
import PGReflexRouter
import PGReflexSchema
import PGReflexStatus
import PGReflexTransport
import PGReflexWire
import Testing

@Suite struct RunConfigurationTests {
    static let valid = """
        source:
          dsn_env: PGREFLEX_DSN
          slot: app_slot
          publication: app_pub
          tables: [public.orders, support_tickets]
          create_slot: true
        journal:
          directory: ./journal
          fsync: { max_records: 500, max_delay_ms: 10 }
          retention: { max_bytes: 1000000, max_age_hours: 24 }
        sink:
          file: { path: /var/out/events.jsonl }
        """

    @Test func parsesAFullConfiguration() throws {
        let config = try RunConfiguration.parse(Self.valid, file: "/etc/pgreflex/run.yaml",
                                                environment: ["PGREFLEX_DSN": "host=/tmp password=s3cret"])
        #expect(config.source.dsn == "host=/tmp password=s3cret")
        #expect(config.source.tables == [TableName(schema: "public", name: "orders"), TableName(schema: "public", name: "support_tickets")])
        #expect(config.source.createSlot && !config.source.createPublication)
        #expect(config.journal.directory == "/etc/pgreflex/journal")
        #expect(config.stateDirectory == "/etc/pgreflex/state", "the state store sits beside the journal by default")
        #expect(config.journal.fsyncMaxRecords == 500 && config.journal.fsyncMaxDelay == .milliseconds(10))
        #expect(config.journal.retentionBytes == 1_000_000 && config.journal.retentionAge == .seconds(86_400))
        #expect(config.journal.segmentBytes == 64 << 20)
        #expect(config.consumers.first?.path == "/var/out/events.jsonl")
        // Slot upkeep defaults: a heartbeat after 10 s idle, checks every minute, a warning past 1 GiB.
        #expect(config.source.monitor.heartbeatInterval == .seconds(10))
        #expect(config.source.monitor.checkInterval == .seconds(60))
        #expect(config.source.monitor.retainedWALWarningBytes == 1 << 30)
    }

    @Test func namedConsumersWithTheirStartAndFullJournalBehaviour() throws {
        let text = """
            source: { dsn: x, slot: s, publication: p }
            journal: { directory: j }
            sink: { file: { path: events.jsonl } }
            consumers:
              audit: { file: { path: /audit/a.jsonl }, start: latest }
              late-1: { file: { path: b.jsonl }, start: 0/16B3748, on_journal_full: drop_oldest }
              decimal: { file: { path: c.jsonl }, start: "23803720" }
            """
        let config = try RunConfiguration.parse(text, file: "/etc/run.yaml")
        #expect(config.consumers.map(\.name) == ["sink", "audit", "late-1", "decimal"])
        #expect(config.consumers[0] == ConsumerSettings(name: "sink", path: "/etc/events.jsonl"))
        #expect(config.consumers[1].start == .latest && config.consumers[1].pathSetting == "consumers.audit.file.path")
        #expect(config.consumers[2].start == .lsn(LSN("0/16B3748")!) && config.consumers[2].onJournalFull == .dropOldest)
        #expect(config.consumers[3].start == .lsn(LSN(23_803_720)))
        #expect(try config.consumer(named: nil).name == "sink")
        #expect(try config.consumer(named: "audit").path == "/audit/a.jsonl")
        #expect(throws: ConfigurationError.self) { try config.consumer(named: "nope") }
        // consumers: alone is enough.
        let alone = try RunConfiguration.parse("source: { dsn: x, slot: s, publication: p }\njournal: { directory: j }\n"
            + "consumers: { only: { file: { path: o } } }", file: "run.yaml")
        #expect(try alone.consumer(named: nil).name == "only")

        func failure(_ consumers: String) -> String {
            let error = #expect(throws: ConfigurationError.self) {
                try RunConfiguration.parse("source: { dsn: x, slot: s, publication: p }\njournal: { directory: j }\n" + consumers, file: "run.yaml")
            }
            return error?.description ?? ""
        }
        #expect(failure("").contains("missing section: sink, consumers or routes"))
        #expect(failure("consumers: { sink: { file: { path: o } } }\nsink: { file: { path: p } }").contains("is taken"))
        #expect(failure("consumers: { \"a/b\": { file: { path: o } } }").contains("not a consumer name"))
        #expect(failure("consumers: { a: { file: { path: o } , start: soon } }").contains("a.start must be earliest, latest, or an LSN"))
        #expect(failure("consumers: { a: { file: { path: o } , on_journal_full: drop } }").contains("pause"))
        #expect(failure("consumers: { a: { file: { path: o } , batch: 3 } }").contains("unknown key 'batch' in consumers.a"))
        #expect(failure("consumers: [a, b]").contains("consumers must map"))
    }

    @Test func routesAndTheirMistakesWithLineAndColumn() throws {
        let text = """
            source: { dsn: x, slot: s, publication: p }
            journal: { directory: j }
            sink: { file: { path: o } }
            routes:
              fraud:
                tables: [public.orders]
                ops: [c]
                if: after.total_amount > 500 || after.is_first_order
                agent: fraud_agent
              reorder:
                agent: log
                tables: inventory
                ops: [u]
                columns_changed: [quantity_on_hand]
                if: |
                  after.quantity_on_hand < after.reorder_point
            agents: { fraud_agent: { file: { path: fraud.jsonl } }, log: { log: { level: notice } } }
            """
        let config = try RunConfiguration.parse(text, file: "run.yaml")
        #expect(config.routes.map(\.name) == ["fraud", "reorder"])
        #expect(config.routes[0].route.ops == ["c"] && config.routes[0].route.tables.map(\.description) == ["public.orders"])
        #expect(config.routes[1].route.columnsChanged == ["quantity_on_hand"] && config.routes[1].route.condition != nil)
        #expect(config.routes.map(\.agent) == ["fraud_agent", "log"] && config.agents.map(\.name) == ["fraud_agent", "log"])
        #expect(config.settingMarks["routes.fraud.if"] == .init(line: 8, column: 9))

        // Checked against the registry's columns: a typo names the column list, at its place.
        let columns = registry(["public.orders": [("id", .integer), ("total_amount", .decimal), ("is_first_order", .boolean)],
                                "public.inventory": [("sku", .string), ("quantity_on_hand", .integer), ("reorder_point", .integer)]])
        #expect(config.check(registry: columns).errors.isEmpty && config.check(registry: columns).warnings.isEmpty)
        let typo = try RunConfiguration.parse(text.replacingOccurrences(of: "after.total_amount", with: "after.totl_amount"), file: "run.yaml")
        let errors = typo.check(registry: columns).errors
        #expect(errors.map(\.description) == [
            "run.yaml:8:15: routes.fraud.if: after.totl_amount is not a column of public.orders v1, the version the stream is on; the columns are id, is_first_order, total_amount",
        ])
        let keyed = try RunConfiguration.parse(text.replacingOccurrences(of: "agent: fraud_agent", with: "agent: fraud_agent\n    key: after.customer"), file: "run.yaml")
        #expect(keyed.check(registry: columns).errors.map(\.message) == [
            "routes.fraud.key: after.customer is not a column of public.orders v1, the version the stream is on; the columns are id, is_first_order, total_amount",
        ])
        let nowhere = try RunConfiguration.parse(text.replacingOccurrences(of: "tables: inventory", with: "tables: inventroy"), file: "run.yaml")
        #expect(nowhere.check(registry: columns).errors.first?.message.contains("match no table in the schema") == true)

        func failure(_ routes: String) -> ConfigurationError? {
            #expect(throws: ConfigurationError.self) {
                try RunConfiguration.parse("source: { dsn: x, slot: s, publication: p }\njournal: { directory: j }\nsink: { file: { path: o } }\n"
                    + routes + "\nagents: { a: { noop: {} }, f: { file: { path: f.jsonl } } }", file: "run.yaml")
            }
        }
        #expect(failure("routes:\n  r:\n    if: after.total_amount = 500\n    agent: a")?.description
            == "run.yaml:6:28: routes.r.if: '=' is not an operator: compare with ==")
        #expect(failure("routes:\n  r:\n    if: \"op == 'u' &&\"\n    agent: a")?.description.hasPrefix("run.yaml:6:") == true)
        #expect(failure("routes:\n  r: { agent: a, ops: [x] }")?.message.contains("'x' is not an operation") == true)
        #expect(failure("routes:\n  r: { agent: a, ops: [c], columns_changed: [a] }")?.message.contains("applies to updates") == true)
        #expect(failure("routes:\n  r: { iff: x }")?.description.hasPrefix("run.yaml:5:8: unknown key 'iff' in routes.r") == true)
        #expect(failure("routes:\n  r: { agent: a, tables: [a.b.c] }")?.message.contains("is not schema.table or table") == true)
        #expect(failure("routes: [a]")?.message.contains("routes must map") == true)
        #expect(failure("routes:\n  r: { tables: [a] }")?.message.contains("needs agent: the agents: entry it wakes (one of a, f)") == true)
        #expect(failure("routes:\n  r: { agent: b }")?.message.contains("no agent named b; the agents are a, f") == true)
    }

    @Test func flowControlSettingsAndTheCombinationsRefused() throws {
        let text = """
            source: { dsn: x, slot: s, publication: p }
            journal: { directory: j }
            agents:
              fraud_file: { file: { path: fraud.jsonl }, circuit_breaker: { failures: 3, cool_down: 1m } }
              quiet: { noop: {} }
            routes:
              fraud:
                agent: fraud_file
                start: earliest
                key: after.customer_id
                concurrency: { limit: 16, key: after.tenant }
                throttle: { limit: 10, period: 1s, burst: 5 }
                rate_limit: { limit: 100, period: 1h, key: after.customer_id }
                priority: { run: "after.total_amount > 1000 ? 10 : 0" }
                idempotency: { key: after.order_id, period: 12h }
                schema_versions: { public.orders: [1, 2] }
                shed: { lag_over: 5m, action: skip }
                retries: { attempts: 3, backoff: { initial: 500ms, max: 1m30s, multiplier: 3 }, timeout: 15s }
              debounced: { agent: quiet, debounce: { period: 2s, key: after.id, timeout: 10s } }
              batched: { agent: quiet, batch: { max_size: 50, timeout: 1s } }
              breach: { agent: quiet, window: { count: 3, period: 10m, key: after.customer_id } }
            """
        let config = try RunConfiguration.parse(text, file: "run.yaml")
        #expect(config.consumers.isEmpty, "routes alone are enough")
        let fraud = config.routes[0]
        #expect(fraud.start == .earliest && fraud.key?.source == "after.customer_id")
        #expect(fraud.concurrency.limit == 16 && fraud.concurrency.key?.source == "after.tenant")
        #expect(fraud.throttle?.limit == 10 && fraud.throttle?.period == .seconds(1) && fraud.throttle?.burst == 5)
        #expect(fraud.rateLimit?.period == .seconds(3600) && fraud.idempotency?.period == .seconds(43_200))
        #expect(fraud.schemaVersions == ["public.orders": [1, 2]] && fraud.shed?.action == .skip && fraud.shed?.lagOver == .seconds(300))
        #expect(fraud.retry == RetryPolicy(attempts: 3, initial: .milliseconds(500), max: .seconds(90), multiplier: 3) && fraud.timeout == .seconds(15))
        #expect(config.routes[1].debounce?.timeout == .seconds(10) && config.routes[2].batch?.maxSize == 50 && config.routes[3].window?.count == 3)
        #expect(config.agents[0].breakerFailures == 3 && config.agents[0].breakerCoolDown == .seconds(60))
        #expect(config.routes[2].start == .latest, "a new route starts at the journal's end unless told")

        func failure(_ route: String) -> String {
            do {
                _ = try RunConfiguration.parse("source: { dsn: x, slot: s, publication: p }\njournal: { directory: j }\n"
                    + "agents: { a: { noop: {} }, f: { file: { path: f.jsonl } } }\nroutes:\n" + route, file: "run.yaml")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(failure("  r: { agent: a, debounce: { period: 1s }, batch: { max_size: 2, timeout: 1s } }").contains("debounce and batch cannot be combined"))
        #expect(failure("  r: { agent: a, batch: { max_size: 2, timeout: 1s }, idempotency: after.id }").contains("batch cannot be combined with idempotency"))
        #expect(failure("  r: { agent: a, batch: { max_size: 2, timeout: 1s }, concurrency: { limit: 2, key: after.x } }").contains("batch ignores concurrency.key"))
        #expect(failure("  r: { agent: a, throttle: { limit: 1, period: 10 } }").contains("routes.r.throttle.period: '10' is not a duration"))
        #expect(failure("  r: { agent: a, shed: { lag_over: 1m, action: drop } }").contains("shed.action must be skip"))
        #expect(failure("  r: { agent: a, key: 'after.' }").hasPrefix("run.yaml:5:"))
        #expect(failure("  r: { agent: f }\n  s: { agent: f }").contains("a file agent serves one route"))
        #expect(failure("  r: { agent: a, retries: { backoff: { initial: 2m, max: 1m } } }").contains("initial (120.0 seconds) is longer than max"))
    }

    /// An emitted message re-enters the stream (WAL, journal, every consumer): revealing a token
    /// into it is refused at load (issue 35).
    @Test func detokenizingIntoAnEmittedMessageIsRefused() {
        let yaml = """
            source: { dsn: x, slot: s, publication: p }
            journal: { directory: j }
            tools:
              announce: { emit: { prefix: demo.contact, parameters: [{ name: email, detokenize: true }] } }
            sink: { file: { path: out.jsonl } }
            """
        #expect(throws: ConfigurationError.self) { try RunConfiguration.parse(yaml, file: "run.yaml") }
        let message: String
        do {
            _ = try RunConfiguration.parse(yaml, file: "run.yaml")
            message = "no error"
        } catch {
            message = "\(error)"
        }
        #expect(message.contains("run.yaml:4:") && message.contains("tools.announce.emit.parameters.email: detokenize is refused for emit")
                && message.contains("into the journal and to every consumer"), "\(message)")
        #expect(throws: Never.self) {
            try RunConfiguration.parse(yaml.replacingOccurrences(of: ", detokenize: true", with: ""), file: "run.yaml")
        }
    }

    @Test func slotUpkeepSettings() throws {
        let text = """
            source: { dsn: x, slot: s, publication: p, heartbeat_interval_ms: 0, slot_check_interval_ms: 500, retained_wal_warning_bytes: 4096 }
            journal: { directory: j }
            sink: { file: { path: o } }
            """
        let config = try RunConfiguration.parse(text, file: "run.yaml")
        #expect(config.source.monitor.heartbeatInterval == nil)
        #expect(config.source.monitor.checkInterval == .milliseconds(500))
        #expect(config.source.monitor.retainedWALWarningBytes == 4096)
        #expect(config.journal.options.retention == .init())
    }

    @Test func serverSettings() throws {
        let base = "source: { dsn: x, slot: s, publication: p }\njournal: { directory: j }\nsink: { file: { path: o } }\n"
        #expect(try RunConfiguration.parse(base, file: "run.yaml").server == nil, "off unless configured")
        #expect(try RunConfiguration.parse(base + "server: { port: 9187 }", file: "run.yaml").server == ServerSettings(host: "127.0.0.1", port: 9187))
        #expect(try RunConfiguration.parse(base + "server: { host: 0.0.0.0, port: 0 }", file: "run.yaml").server == ServerSettings(host: "0.0.0.0", port: 0))
        for (bad, words) in [("server: { port: 70000 }", "give a TCP port, 1 to 65535"), ("server: { host: x }", "port"),
                             ("server: { port: 1, tls: true }", "tls")] {
            let error = try #require(throws: ConfigurationError.self) { try RunConfiguration.parse(base + bad, file: "run.yaml") }
            #expect(error.line == 4 && error.message.contains(words), "\(error)")
        }
    }

    @Test func schemaSettings() throws {
        let base = "source: { dsn: x, slot: s, publication: p }\njournal: { directory: j }\nsink: { file: { path: o } }\n"
        let defaults = try RunConfiguration.parse(base, file: "/etc/run.yaml")
        #expect(defaults.schemaRegistry == "/etc/Schemas")
        #expect(defaults.schemaVersionPolicy == SchemaVersionPolicy() && !defaults.schemaVersionPolicy.holdsAny)
        let text = base + "schemas:\n  on_new_version: hold\n  tables:\n    orders: { on_new_version: continue }\n    app.events: { on_new_version: hold }\n"
        let config = try RunConfiguration.parse(text, file: "/etc/run.yaml")
        #expect(config.schemaRegistry == "/etc/Schemas")
        #expect(config.schemaVersionPolicy.action(for: "public.orders") == .continue)
        #expect(config.schemaVersionPolicy.action(for: "app.events") == .hold)
        #expect(config.schemaVersionPolicy.action(for: "public.other") == .hold)
        for (bad, words) in [("schemas: { on_new_version: pause }", "continue (record the new version and deliver) or hold"),
                             ("schemas: { tables: { orders: {} } }", "schemas.tables.orders needs on_new_version"),
                             ("schemas: { tables: [orders] }", "must map schema.table")] {
            let error = try #require(throws: ConfigurationError.self) { try RunConfiguration.parse(base + bad, file: "run.yaml") }
            #expect(error.line == 4 && error.message.contains(words), "\(error)")
        }
    }

    /// Each mistake names the file, the line, and the fix.
    @Test(arguments: [
        ("source:\n  dsn: x\n  slot: s\n  publication: p\njornal:\n  directory: j\n", 5, "unknown key 'jornal'"),
        ("source:\n  dsn: x\n  slot: s\n  publication: p\njournal:\n  directory: j\n  fsync: { max_records: lots }\nsink:\n  file: { path: o }\n", 7, "positive whole number"),
        ("source:\n  dsn: x\n  publication: p\njournal:\n  directory: j\nsink:\n  file: { path: o }\n", 2, "source needs slot"),
        ("source:\n  dsn: x\n  dsn_env: Y\n  slot: s\n  publication: p\n", 2, "both dsn and dsn_env"),
        ("source:\n  dsn_env: NOT_SET_ANYWHERE\n  slot: s\n  publication: p\njournal:\n  directory: j\nsink:\n  file: { path: o }\n", 2, "not set"),
        ("source:\n  dsn: x\n  slot: [unclosed\n", 4, "not valid YAML"),
        ("source:\n  dsn: x\n  slot: s\n  publication: p\n  tables: [a.b.c]\njournal:\n  directory: j\nsink:\n  file: { path: o }\n", 5, "not schema.table"),
        ("source:\n  dsn: x\n  slot: s\n  publication: p\njournal:\n  directory: j\nsink:\n  kafka: {}\n", 8, "unknown key 'kafka'"),
        ("", 1, "empty"),
        ("source:\n  dsn: x\n  slot: s\n  publication: p\n  heartbeat_interval_ms: -1\n", 5, "0 or more"),
    ])
    func mistakesNameTheLine(text: String, line: Int, words: String) {
        do {
            _ = try RunConfiguration.parse(text, file: "run.yaml", environment: [:])
            Issue.record("accepted: \(text)")
        } catch let error as ConfigurationError {
            #expect(error.file == "run.yaml")
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(words), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func errorsNeverEchoTheDSN() {
        let text = "source:\n  dsn: \"host=db password=hunter2\"\n  slot: s\n  publication: p\n  create_slot: maybe\n"
        do {
            _ = try RunConfiguration.parse(text, file: "run.yaml")
            Issue.record("accepted")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
            #expect("\(error)".contains("run.yaml:5"))
        }
    }
}

/// A registry's current tables, each at version 1, from column names and JSON forms.
func registry(_ tables: [String: [(String, TypeShape.JSONForm)]]) -> [String: SchemaRegistry.Current] {
    tables.reduce(into: [:]) { result, entry in
        let name = TableName(parsing: entry.key)!
        let columns = entry.value.enumerated().map { index, column in
            TableSchema.Column(name: column.0, position: index + 1, type: "\(column.1)", shape: .base("\(column.1)", column.1))
        }
        result[entry.key] = SchemaRegistry.Current(version: 1, schema: TableSchema(schema: name.schema, table: name.name, columns: columns))
    }
}
