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
        #expect(failure("after.status.matches('(')")?.message.hasPrefix("matches: '(' is not a valid RE2 pattern (missing ): ()") == true)
        #expect(failure("after.status\n  .matches('(a)\\\\1')").map { ($0.line, $0.column) }! == (2, 12), "a backreference: RE2 refuses it at load, with its place")
        #expect(failure("after.s.matches('(?=a)')") != nil, "lookaround is not RE2")
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
        for bad in ["NaN", "Infinity", "", ".", "-", "1.2.3", "e5", "12abc", String(repeating: "9", count: 39),
                    "1e-9223372036854775808", "1e9223372036854775807", "1e77"] {
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
        #expect(try value("string(\(t))") == .string("2024-02-29T12:34:56Z"), "CEL's form")
        #expect(try value("string(timestamp('2024-02-29T12:34:56.1234567Z'))") == .string("2024-02-29T12:34:56.1234567Z"), "nanoseconds")
        #expect(try value("string(duration('1h30m'))") == .string("5400s"))
        #expect(try value("string(duration('-1.5ms'))") == .string("-0.0015s"))
    }

    /// A row's value never takes the process down: every overflow and out-of-range conversion is
    /// a CEL error (no value, the route does not fire), whatever the row holds (issue 26, item 1).
    @Test(arguments: [
        ("timestamp(after.created_us) > timestamp(0)", ["created_us": CELValue.int(1_733_500_000_000_000)]),
        ("duration(after.d) > duration('1s')", ["d": .string("3000000000h")]),
        ("timestamp(9223372036854775807) > timestamp(0)", [:]),
        ("timestamp(-9223372036854775808) > timestamp(0)", [:]),
        ("timestamp('2024-01-01T00:00:00Z') + duration('2562047000h') > timestamp(0)", [:]),
        ("timestamp('2024-01-01T00:00:00Z') - duration('2562047000h') > timestamp(0)", [:]),
        ("duration('2562047h') + duration('2562047h') > duration('0s')", [:]),
        ("-(duration('-2562047h47m16.854775808s')) > duration('0s')", [:]),
        ("timestamp('9999-12-31T23:59:59Z') - timestamp('0001-01-01T00:00:00Z') > duration('0s')", [:]),
        ("after.x * after.x > 0", ["x": .int(.max)]),
        ("after.x - 1 < 0", ["x": .int(.min)]),
        ("-after.x < 0", ["x": .int(.min)]),
        ("after.x / -1 < 0", ["x": .int(.min)]),
        ("after.x % -1 == 0", ["x": .int(.min)]),
        ("after.u - 1u > 0u", ["u": .uint(0)]),
        ("after.u * 2u > 0u", ["u": .uint(.max)]),
        ("int(after.d) > 0", ["d": .double(9.3e18)]),
        ("int(after.d) > 0", ["d": .double(.nan)]),
        ("uint(after.d) > 0u", ["d": .double(-1)]),
        ("int(after.u) > 0", ["u": .uint(.max)]),
        ("int(after.n) > 0", ["n": .string("99999999999999999999999999999999999")]),
        ("after.n * after.n > 0", ["n": .string("99999999999999999999999999999999999")]),
        ("-after.n < 0", ["n": .decimal(CELDecimal(mantissa: .min, scale: 0))]),
        ("[1, 2][after.i] == 1", ["i": .int(.min)]),
        ("[1, 2][after.i] == 1", ["i": .double(1e300)]),
        ("timestamp(after.t).getHours() > 0", ["t": .string("0000-01-01T00:00:00Z")]),
    ] as [(String, [String: CELValue])])
    func overflowIsAnErrorNotATrap(_ text: String, _ after: [String: CELValue]) throws {
        let expression = try CELExpression(text)
        #expect(throws: CELEvaluationError.self, "\(text)") { try expression.holds(["after": .map(after)]) }
    }

    /// Literals the parser cannot hold are load errors, not traps (`pgreflex check` used to die).
    @Test func literalsOutOfRangeAreLoadErrors() {
        for text in ["after.x == -0xFFFFFFFFFFFFFFFF", "after.x == -0x8000000000000001", "after.x == 0x8000000000000000",
                     "after.x == 18446744073709551616u", "after.x == -9223372036854775809", "'\\uD800' == ''", "'\\U00110000' == ''"] {
            #expect(throws: CELSyntaxError.self, "\(text)") { try CELExpression(text) }
        }
        #expect(throws: Never.self) { try CELExpression("after.x == -0x8000000000000000") }
        #expect(throws: Never.self) { try CELExpression("after.x == 0xFFFFFFFFFFFFFFFFu") }
    }

    /// Expressions come from files: nesting and chains have limits, so neither parsing nor
    /// evaluation (both recursive) can exhaust the stack.
    @Test func deepExpressionsAreLoadErrorsNotStackOverflows() {
        let deep = [String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000),
                    String(repeating: "!", count: 5000) + "true",
                    String(repeating: "-", count: 5000) + "1",
                    "1" + String(repeating: " + 1", count: 100_000),
                    "after" + String(repeating: ".a", count: 100_000),
                    String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)]
        for text in deep {
            #expect(throws: CELSyntaxError.self) { try CELExpression(text) }
        }
        #expect(throws: Never.self) { try CELExpression("1" + String(repeating: " + 1", count: 200)) }
    }

    /// `matches` runs RE2: linear in the input, so a row cannot stall a route (issue 26, item 2).
    /// The bar is a millisecond; a backtracking engine took more than 10 s on the first of these.
    @Test(arguments: ["(a+)+$", "(a|a)*$", "(a*)*b", "^(a|aa)+$", "(x+x+)+y"])
    func pathologicalPatternsAnswerAtOnce(_ pattern: String) throws {
        let expression = try CELExpression("after.s.matches('\(pattern)')")
        for text in [String(repeating: "a", count: 30) + "!", String(repeating: "a", count: 10_000) + "!",
                     String(repeating: "x", count: 10_000)] {
            _ = try expression.holds(["after": .map(["s": .string(text)])])
        }
        // A pattern that is not a literal (from a row) is compiled at run time, also by RE2.
        let dynamic = try CELExpression("after.s.matches(after.p)")
        #expect(try dynamic.holds(["after": .map(["s": .string("aaa"), "p": .string("^a+$")])]))
        #expect(throws: CELEvaluationError.self) { try dynamic.holds(["after": .map(["s": .string("a"), "p": .string("(a)\\1")])]) }
    }

    /// A decimal literal next to a decimal string compares as the decimal it is written as, and
    /// text to double is correctly rounded (issue 26, item 3).
    @Test func decimalLiteralsAndCorrectRounding() throws {
        let after: CELActivation = ["after": .map(["price": .string("19.99"), "a": .string("123.456"), "b": .string("0.07"),
                                                    "c": .string("-987.654"), "tiny": .string("0.1000000000000000000001")])]
        func holds(_ text: String) throws -> Bool { try CELExpression(text).holds(after) }
        #expect(try holds("after.price == 19.99"))
        #expect(try !holds("after.price > 19.99"))
        #expect(try !holds("after.price < 19.99"))
        #expect(try holds("after.price * 2 == 39.98"))
        #expect(try holds("after.a == 123.456"))
        #expect(try !holds("after.b < 0.07"))
        #expect(try holds("after.c == -987.654"))
        #expect(try holds("19.99 == after.price"))
        #expect(try !holds("after.tiny == 0.1"), "the decimal it is written as, not the nearest double")
        #expect(try holds("'612.10' == 612.1"))
        #expect(try CELExpression("double('123.456')").evaluate([:]) == .double(123.456))
        #expect(try CELExpression("double(after.a)").evaluate(after) == .double(123.456))
        #expect(try CELExpression("decimal('0.1') + decimal('0.2') == decimal('0.3')").holds([:]))
        #expect(try CELExpression("string(123.456)").evaluate([:]) == .string("123.456"))
        #expect(try CELExpression("string(1e21)").evaluate([:]) == .string("1e+21"))
    }

    /// CEL has comments; the docs' own business-hours example starts with one.
    @Test func commentsRunToTheEndOfTheLine() throws {
        let text = """
        // The seeds' high-value complaint outside business hours (New York time).
        after.id == 42 && // the row
          after.status == 'paid' // and its state
        """
        #expect(try CELExpression(text).holds(Self.event))
        #expect(try CELExpression("'a//b' == 'a' + '//b'").holds([:]), "not inside a string")
    }
}
