import PGReflexRouter
import Testing

/// The CEL subset: what routes' `if` conditions can say, how they evaluate against an event,
/// and the errors a user sees.
@Suite struct CELExpressionTests {
    /// An order update as a route sees it (numeric columns are strings, as in the envelope).
    static let event: CELActivation = {
        let after: CELValue = .map([
            "id": .int(42), "customer_id": .int(7), "total_amount": .string("612.50"), "is_first_order": .bool(false),
            "status": .string("paid"), "email": .string("tok:k2:abc"), "created_at": .string("2026-11-28T23:15:00.123456Z"),
            "tags": .list([.string("vip"), .string("eu")]), "discount": .null,
            "quantity_on_hand": .int(3), "reorder_point": .int(5),
        ])
        let before: CELValue = .map(["quantity_on_hand": .int(6), "reorder_point": .int(5), "total_amount": .string("612.1")])
        let source: CELValue = .map(["table": .string("orders"), "schema": .string("public"), "ts_ms": .int(1_764_371_700_000)])
        let event: CELValue = .map(["before": before, "after": after, "source": source, "op": .string("u"), "table": .string("public.orders")])
        return ["event": event, "before": before, "after": after, "source": source, "op": .string("u"), "table": .string("public.orders")]
    }()

    func value(_ text: String) throws -> CELValue {
        try CELExpression(text).evaluate(Self.event)
    }

    func holds(_ text: String) throws -> Bool {
        try CELExpression(text).holds(Self.event)
    }

    @Test(arguments: [
        // The seeds' predicates.
        "after.total_amount > 500 || after.is_first_order",
        "event.after.total_amount > 500 && event.op == 'u'",
        "after.quantity_on_hand < after.reorder_point && before.quantity_on_hand >= before.reorder_point",
        "timestamp(after.created_at).getHours('America/New_York') >= 17 || timestamp(after.created_at).getHours('America/New_York') < 9",
        "timestamp(after.created_at).getDayOfWeek() == 6",  // a Saturday
        "timestamp(after.created_at).getHours() == 23 && timestamp(after.created_at).getHours('+02:00') == 1",
        // Operators and functions.
        "op in ['c', 'u'] && !(op == 'd')",
        "'vip' in after.tags && size(after.tags) == 2 && after.tags.size() == 2",
        "has(after.discount) && after.discount == null && !has(after.coupon)",
        "after.status.startsWith('pa') && after.status.endsWith('id') && after.status.contains('ai')",
        "after.email.matches('^tok:k[0-9]+:') && matches(after.status, 'a.d')",
        "table == 'public.orders' && source.table == 'orders'",
        "(after.total_amount > 1000 ? 'big' : 'normal') == 'normal'",
        "1 + 2 * 3 == 7 && (1 + 2) * 3 == 9 && 7 % 4 == 3 && 7 / 2 == 3 && -3 < 0",
        "2.5 * 2.0 == 5.0 && 1 == 1.0 && 1u == 1",
        "'a' + 'b' == 'ab' && [1] + [2] == [1, 2] && {'k': 1}['k'] == 1",
        "int('12') == 12 && double(after.total_amount) == 612.5 && string(42) == '42'",
        "timestamp('2026-11-28T23:15:00Z') + duration('1h30m') > timestamp(after.created_at)",
        "timestamp('2026-01-01 00:00:00+02') == timestamp('2025-12-31T22:00:00Z')",
        // Exact decimals: numeric strings against numbers, without binary rounding.
        "after.total_amount == 612.5 && after.total_amount == 612.50 && before.total_amount < after.total_amount",
        "decimal('0.1') + decimal('0.2') == decimal('0.3')",
        "after.total_amount - 12.5 == 600 && after.total_amount * 2 == 1225",
        "before.total_amount != '612.10' && before.total_amount == 612.10",
    ])
    func holdsForTheEvent(_ text: String) throws {
        #expect(try holds(text), "\(text)")
    }

    @Test func falseWinsOverAnErrorOnEitherSideAsInCEL() throws {
        #expect(try holds("after.missing == 1 && false") == false)
        #expect(try holds("false && after.missing == 1") == false)
        #expect(try holds("after.missing == 1 || true"))
        #expect(throws: CELEvaluationError.self) { try holds("after.missing == 1 || false") }
        let error = try #require(throws: CELEvaluationError.self) { try holds("after.totl_amount > 500") }
        #expect(error.message == "no field 'totl_amount'")
        #expect(error.offset == 6, "points at the field")
    }

    @Test func typeMistakesAreErrorsNotSilentFalses() throws {
        for text in ["after.status > 5", "after.tags < 1", "!after.status", "after.status ? 1 : 2", "after.id + 'x'",
                     "9223372036854775807 + 1", "1 / 0", "size(after.id)", "timestamp('yesterday')", "after.id.getHours()", "'x'"] {
            #expect(throws: CELEvaluationError.self, "\(text)") { try holds(text) }
        }
        #expect(try value("-9223372036854775808") == .int(.min))
        #expect(try value("0x1F") == .int(31))
    }

    @Test func syntaxErrorsSayWhereAndWhat() {
        func failure(_ text: String) -> CELSyntaxError? {
            #expect(throws: CELSyntaxError.self) { try CELExpression(text) }
        }
        #expect(failure("after.total_amount = 500")?.description == "1:20: '=' is not an operator: compare with ==")
        #expect(failure("after.total_amount > 500 &")?.column == 26)
        #expect(failure("after.total_amount >")?.message == "expected a value, a field or '(', found the end of the expression")
        #expect(failure("lenght(after.tags) > 1")?.message.hasPrefix("unknown function 'lenght'") == true)
        #expect(failure("has(after)")?.message == "has() takes one field selection, such as has(after.discount)")
        #expect(failure("after.status.matches('(')")?.message == "matches: '(' is not a valid regular expression")
        #expect(failure("op == 'u'\n  && after.status == \"paid")?.line == 2)
        #expect(failure("(op == 'u'")?.message == "expected ')' to close the parenthesis, found the end of the expression")
        #expect(failure("")?.message == "the expression is empty")
        #expect(failure("op == 'u' op")?.message == "unexpected 'op' after a complete expression")
        #expect(failure("after.status.startsWith()")?.message == "startsWith takes 1 argument here, not 0")
        #expect(failure("after.id.int()")?.message == "int is a function, not a method: write int(value)")
    }

    @Test func decimalsAreExact() throws {
        let a = try #require(CELDecimal(parsing: "612.10"))
        #expect(a == CELDecimal(parsing: "612.1")!)
        #expect(a.hashValue == CELDecimal(parsing: "612.1")!.hashValue)
        #expect(CELDecimal(parsing: "0.30000000000000000001")! > CELDecimal(parsing: "0.3")!)
        #expect(CELDecimal(parsing: "-1.5e2")! == CELDecimal(-150))
        #expect(CELDecimal(parsing: "1E-3")?.description == "0.001")
        for bad in ["NaN", "Infinity", "", ".", "-", "1.2.3", "e5", "12abc", String(repeating: "9", count: 39)] {
            #expect(CELDecimal(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func calendarFieldsAcrossZonesAndYears() throws {
        // 2024-02-29T12:34:56Z, a leap day, a Thursday.
        let t = "timestamp('2024-02-29T12:34:56Z')"
        #expect(try value("\(t).getFullYear()") == .int(2024))
        #expect(try value("\(t).getMonth()") == .int(1))
        #expect(try value("\(t).getDate()") == .int(29))
        #expect(try value("\(t).getDayOfMonth()") == .int(28))
        #expect(try value("\(t).getDayOfWeek()") == .int(4))
        #expect(try value("\(t).getDayOfYear()") == .int(59))
        #expect(try value("\(t).getMinutes()") == .int(34))
        #expect(try value("\(t).getSeconds()") == .int(56))
        #expect(try value("\(t).getHours('Asia/Kolkata')") == .int(18))
        #expect(try value("\(t).getHours('-10:00')") == .int(2))
        #expect(try value("timestamp('1969-12-31T23:59:59Z').getDayOfWeek()") == .int(3))
        #expect(throws: CELEvaluationError.self) { try value("\(t).getHours('Mars/Olympus')") }
        #expect(try value("string(\(t))") == .string("2024-02-29T12:34:56.000000Z"), "as envelopes write timestamps")
    }
}
