import Foundation
import PGReflexAgentContract
@testable import PGReflexDelivery
import PGReflexRouter
import Testing

/// Keys and priorities come from rows: whatever a row holds, they are values, never a trap.
@Suite struct RouteKeyValueTests {
    @Test func prioritiesFromExtremeValuesAreClampedNotTraps() throws {
        let expression = try CELExpression("after.p")
        func priority(_ value: CELValue) -> Int {
            RouteValues.priorityValue(expression, ["after": .map(["p": value])])
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

/// The loop guard reads an envelope's cause from the values the route parsed anyway: an origin,
/// or a tool's tag message. Whatever a message holds, it is a cause, a tag without one, or nothing.
@Suite struct RouteCauseTests {
    func cause(_ envelope: String) -> (AgentCausation.Cause?, Bool) {
        let parsed = RouteValues.cause(of: RouteValues.values(of: Array(envelope.utf8)))
        return (parsed.cause, parsed.isTag)
    }

    @Test func originsAndTagsAreCauses() {
        let origin = cause(#"{"op":"u","source":{"origin":"pgreflex:2:fixer"},"after":{"id":1}}"#)
        #expect(origin.0 == AgentCausation.Cause(depth: 2, agent: "fixer") && !origin.1)
        let content = Data(#"{"agent":"notifier","depth":1}"#.utf8).base64EncodedString()
        let tag = cause(#"{"op":"m","message":{"prefix":"pgreflex.causation","content":"\#(content)"}}"#)
        #expect(tag.0 == AgentCausation.Cause(depth: 1, agent: "notifier") && tag.1)
    }

    @Test func otherOriginsAndBrokenTagsAreNotCauses() {
        #expect(cause(#"{"op":"c","source":{"origin":"replica-7"}}"#).0 == nil)
        #expect(cause(#"{"op":"c","source":{"origin":"pgreflex:0:x"}}"#).0 == nil)
        #expect(cause(#"{"op":"c","source":{"origin":"pgreflex:99999999999999999999:x"}}"#).0 == nil)
        let broken = cause(#"{"op":"m","message":{"prefix":"pgreflex.causation","content":"not base64!"}}"#)
        #expect(broken.0 == nil && broken.1, "a tag that cannot be read is still a tag: nobody's event")
        let fractional = Data(#"{"agent":"a","depth":1.5}"#.utf8).base64EncodedString()
        #expect(cause(#"{"op":"m","message":{"prefix":"pgreflex.causation","content":"\#(fractional)"}}"#).0 == nil)
        #expect(cause("not json").0 == nil && !cause("not json").1)
    }
}
