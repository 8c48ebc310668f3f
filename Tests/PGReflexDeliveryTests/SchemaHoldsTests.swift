@testable import PGReflexDelivery
import PGReflexJournal
import PGReflexSchema
import PGReflexTestSupport
import PGReflexWire
import Testing

@Suite struct SchemaHoldsTests {
    func at(_ seconds: Int) -> TestInstant { .at(seconds) }
    func position(_ n: UInt64, _ ordinal: Int = 0) -> EventPosition { EventPosition(commitLSN: LSN(n), ordinal: ordinal) }

    let holdOrders = SchemaVersionPolicy(defaultAction: .continue, tables: ["public.orders": .hold])

    @Test func aPendingVersionHoldsItsTableFromThatEventOnAndOtherTablesGoOn() {
        var holds = SchemaHolds(policy: holdOrders, accepted: ["public.orders": 1, "public.tickets": 1], now: at(0))
        #expect(holds.route(table: "public.orders", version: 1, at: position(10), now: at(0)) == .deliver)
        #expect(holds.route(table: "public.orders", version: 2, at: position(20), now: at(0)) == .beginHold)
        // Every later event of the table is held, even one of an accepted version: the table keeps its order.
        #expect(holds.route(table: "public.orders", version: 1, at: position(30), now: at(0)) == .hold)
        #expect(holds.route(table: "public.orders", version: 2, at: position(30, 1), now: at(0)) == .hold)
        // A table under continue is never held, whatever its version.
        #expect(holds.route(table: "public.tickets", version: 5, at: position(40), now: at(0)) == .deliver)
        #expect(holds.holds["public.orders"] == .init(since: position(20), version: 2, events: 3, nextReminder: at(60)))
        #expect(holds.floor == position(20))
        #expect(holds.checkpointed == ["public.orders": Checkpoint.Hold(position: position(20), version: 2)])
    }

    @Test func aTableNewToTheRegistryIsHeldUnderHold() {
        var holds = SchemaHolds(policy: SchemaVersionPolicy(defaultAction: .hold), accepted: [:], now: at(0))
        #expect(holds.isEnabled)
        #expect(holds.route(table: "public.fresh", version: 1, at: position(1), now: at(0)) == .beginHold)
        // Events without a table version (journaled before versions existed) are not held.
        #expect(holds.route(table: "public.old", version: nil, at: position(2), now: at(0)) == .deliver)
    }

    @Test func continueEverywhereNeverInspects() {
        let holds = SchemaHolds(policy: SchemaVersionPolicy(), accepted: [:], now: at(0))
        #expect(!holds.isEnabled)
    }

    @Test func acceptingReleasesOnlyWhatIsAcceptedAndRoutingAgainStopsAtTheNextPendingVersion() {
        var holds = SchemaHolds(policy: holdOrders, accepted: ["public.orders": 1], now: at(0))
        #expect(holds.route(table: "public.orders", version: 2, at: position(20), now: at(0)) == .beginHold)
        #expect(holds.route(table: "public.orders", version: 3, at: position(30), now: at(0)) == .hold)
        #expect(holds.update(accepted: ["public.orders": 1]) == [])
        #expect(holds.update(accepted: ["public.orders": 2]) == ["public.orders"])
        #expect(holds.release("public.orders") == position(20))
        #expect(holds.holds.isEmpty)
        // The owner routes the table's journaled events again, in order.
        #expect(holds.route(table: "public.orders", version: 2, at: position(20), now: at(5)) == .deliver)
        #expect(holds.route(table: "public.orders", version: 3, at: position(30), now: at(5)) == .beginHold)
        #expect(holds.floor == position(30))
    }

    @Test func aTableNoLongerConfiguredToHoldIsReleased() {
        let restored = ["public.orders": Checkpoint.Hold(position: position(20), version: 2)]
        var holds = SchemaHolds(policy: SchemaVersionPolicy(), accepted: ["public.orders": 1], restoring: restored, now: at(0))
        #expect(holds.isEnabled)  // still held until the owner releases it
        #expect(holds.route(table: "public.orders", version: 1, at: position(25), now: at(0)) == .hold)
        #expect(holds.update(accepted: ["public.orders": 1]) == ["public.orders"])
    }

    @Test func remindersComeEveryIntervalWhileHeld() {
        var holds = SchemaHolds(policy: holdOrders, accepted: [:], now: at(0), reminderInterval: .seconds(60))
        _ = holds.route(table: "public.orders", version: 1, at: position(1), now: at(0))
        #expect(holds.remind(now: at(59)).isEmpty)
        #expect(holds.remind(now: at(60)).map(\.table) == ["public.orders"])
        #expect(holds.remind(now: at(61)).isEmpty)
        #expect(holds.remind(now: at(120)).map(\.hold.version) == [1])
    }
}
