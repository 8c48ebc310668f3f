@testable import PGReflexDelivery
import PGReflexRouter
import Testing

/// Keys and priorities come from rows: whatever a row holds, they are values, never a trap.
@Suite struct RouteKeyValueTests {
    @Test func prioritiesFromExtremeValuesAreClampedNotTraps() throws {
        let expression = try CELExpression("after.p")
        func priority(_ value: CELValue) -> Int {
            RouteConsumer.priorityValue(expression, activation: ["after": .map(["p": value])], envelope: [])
        }
        #expect(priority(.double(1e300)) == .max)
        #expect(priority(.double(-1e300)) == .min)
        #expect(priority(.double(.nan)) == 0)
        #expect(priority(.decimal(CELDecimal(mantissa: 99_999_999_999_999_999_999_999_999_999_999, scale: 0))) == .max)
        #expect(priority(.decimal(CELDecimal(mantissa: -99_999_999_999_999_999_999_999_999_999_999, scale: 0))) == .min)
        #expect(priority(.uint(.max)) == .max)
        #expect(priority(.double(2.6)) == 3)
        #expect(priority(.string("x")) == 0)
    }
}
