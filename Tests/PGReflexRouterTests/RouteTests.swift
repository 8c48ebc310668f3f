import PGReflexRouter
import Testing

/// Routes on envelopes as pgreflex writes them: the seeds' three workflows, and why a route
/// says no.
@Suite struct RouteTests {
    static func envelope(table: String, op: String, before: String = "null", after: String = "null") -> String {
        #"{"before":\#(before),"after":\#(after),"source":{"version":"1","connector":"postgresql","name":"pgreflex","db":"app","schema":"public","table":"\#(table)","lsn":123},"op":"\#(op)","ts_ms":1,"id":"x","key":null}"#
    }

    func verdict(_ route: Route, _ envelope: String) throws -> Route.Verdict {
        let activation = try CELValue.activation(envelope: Array(envelope.utf8))
        guard case .string(let table) = activation["table"], case .string(let op) = activation["op"] else {
            Issue.record("no table or op in \(envelope)")
            return .conditionFalse
        }
        return route.verdict(table: table, op: op) { activation }
    }

    let fraud = Route(name: "fraud", tables: [TablePattern(parsing: "public.orders")!], ops: ["c"],
                      condition: try! CELExpression("after.total_amount > 500 || after.is_first_order"))
    let tickets = Route(name: "classify", tables: [TablePattern(parsing: "support_tickets")!], ops: ["c"])
    let reorder = Route(name: "reorder", tables: [TablePattern(parsing: "public.inv*")!], ops: ["u"], columnsChanged: ["quantity_on_hand"],
                        condition: try! CELExpression("after.quantity_on_hand < after.reorder_point"))

    @Test func theSeedsWorkflows() throws {
        let big = Self.envelope(table: "orders", op: "c", after: #"{"id":1,"total_amount":"612.50","is_first_order":false}"#)
        let small = Self.envelope(table: "orders", op: "c", after: #"{"id":2,"total_amount":"40.00","is_first_order":false}"#)
        let first = Self.envelope(table: "orders", op: "c", after: #"{"id":3,"total_amount":"40.00","is_first_order":true}"#)
        #expect(try verdict(fraud, big) == .matches)
        #expect(try verdict(fraud, small) == .conditionFalse)
        #expect(try verdict(fraud, first) == .matches)
        #expect(try verdict(fraud, Self.envelope(table: "orders", op: "u", after: #"{"id":1}"#)) == .otherOperation("u"))
        #expect(try verdict(fraud, Self.envelope(table: "customers", op: "c", after: #"{"id":1}"#)) == .otherTable("public.customers"))

        #expect(try verdict(tickets, Self.envelope(table: "support_tickets", op: "c", after: #"{"id":9,"body":"it broke"}"#)) == .matches)

        let dropped = Self.envelope(table: "inventory", op: "u", before: #"{"sku":"a","quantity_on_hand":6,"reorder_point":5,"last_audited_at":"x"}"#,
                                    after: #"{"sku":"a","quantity_on_hand":3,"reorder_point":5,"last_audited_at":"x"}"#)
        let audited = Self.envelope(table: "inventory", op: "u", before: #"{"sku":"a","quantity_on_hand":3,"reorder_point":5,"last_audited_at":"x"}"#,
                                    after: #"{"sku":"a","quantity_on_hand":3,"reorder_point":5,"last_audited_at":"y"}"#)
        #expect(try verdict(reorder, dropped) == .matches)
        #expect(try verdict(reorder, audited) == .noWatchedColumnChanged(["quantity_on_hand"]), "an audit touch does not wake the reorder agent")
    }

    @Test func columnsChangedWithoutABeforeImageCountsAsChanged() throws {
        // REPLICA IDENTITY DEFAULT: no before image, nothing to compare, nothing missed.
        let noBefore = Self.envelope(table: "inventory", op: "u", after: #"{"quantity_on_hand":1,"reorder_point":5}"#)
        #expect(try verdict(reorder, noBefore) == .matches)
        // An unchanged TOASTed value is unchanged.
        let route = Route(name: "notes", columnsChanged: ["notes"])
        let toasted = Self.envelope(table: "t", op: "u", before: #"{"notes":"long"}"#, after: #"{"notes":"__debezium_unavailable_value"}"#)
        #expect(try verdict(route, toasted) == .noWatchedColumnChanged(["notes"]))
        // Inserts are not filtered by changed columns.
        #expect(try verdict(route, Self.envelope(table: "t", op: "c", after: #"{"notes":"new"}"#)) == .matches)
    }

    @Test func aConditionWithoutAValueDoesNotMatchAndSaysWhy() throws {
        let typo = Route(name: "typo", condition: try CELExpression("after.totl_amount > 500"))
        let verdict = try verdict(typo, Self.envelope(table: "orders", op: "c", after: #"{"total_amount":"1"}"#))
        guard case .conditionFailed(let error) = verdict else { Issue.record("\(verdict)"); return }
        #expect(verdict.description == "the if condition has no value: no field 'totl_amount'")
        #expect(error.offset == 6)
    }

    @Test func tablePatternsGlobEachPart() {
        #expect(TablePattern(parsing: "orders")!.matches("public.orders"))
        #expect(!TablePattern(parsing: "orders")!.matches("sales.orders"))
        #expect(TablePattern(parsing: "*.orders")!.matches("sales.orders"))
        #expect(TablePattern(parsing: "public.order?")!.matches("public.orders"))
        #expect(!TablePattern(parsing: "public.*")!.matches("publicx.orders"))
        #expect(TablePattern(parsing: "a.b.c") == nil && TablePattern(parsing: ".x") == nil)
        // Without a glob the name is compared whole.
        #expect(!TablePattern(parsing: "public.orders")!.matches("public.orders2") && !TablePattern(parsing: "public.orders")!.matches("public.order"))
        #expect(TablePattern(parsing: "public.ord[e]rs")!.matches("public.orders") && !TablePattern(parsing: "public.ord[e]rs")!.matches("public.ordrs"))
    }

    @Test func columnReferencesForTheRegistryCheck() throws {
        let expression = try CELExpression("after.total > 1 && has(before.note) && event.after.id != 0 && source.table == 'x'")
        #expect(expression.columnReferences.map { "\($0.image).\($0.column)" } == ["after.total", "before.note", "after.id"])
    }
}
