import PGReflexCapture
import PGReflexTransport
import PGReflexTestSupport
import Testing

@Suite struct SlotMonitorTests {
    /// A clock's instant that tests move by hand.
    func at(_ seconds: Int) -> TestInstant { .at(seconds) }

    @Test func heartbeatsOnlyAfterAnIdleIntervalAndThenEveryInterval() {
        var monitor = SlotMonitor(options: .init(heartbeatInterval: .seconds(10), checkInterval: .seconds(60)), now: at(0))
        #expect(monitor.tick(at: at(0)) == [.checkHealth])
        #expect(monitor.tick(at: at(9)) == [])
        monitor.changeSeen(at: at(9))
        #expect(monitor.tick(at: at(18)) == [])
        #expect(monitor.tick(at: at(19)) == [.emitHeartbeat])
        #expect(monitor.tick(at: at(25)) == [])
        #expect(monitor.tick(at: at(29)) == [.emitHeartbeat])
        #expect(monitor.tick(at: at(60)) == [.emitHeartbeat, .checkHealth])
        monitor.disableHeartbeat()
        #expect(monitor.tick(at: at(200)) == [.checkHealth])
    }

    @Test func noHeartbeatWhenOff() {
        var monitor = SlotMonitor(options: .init(heartbeatInterval: nil, checkInterval: .seconds(5)), now: at(0))
        #expect(monitor.tick(at: at(1000)) == [.checkHealth])
    }

    @Test func eachHealthCrossingIsReportedOnce() {
        var monitor = SlotMonitor(options: .init(retainedWALWarningBytes: 1000), now: at(0))
        func health(_ bytes: Int64, _ status: String = "reserved") -> SlotHealth {
            SlotHealth(walStatus: status, retainedBytes: bytes, safeBytes: nil)
        }
        #expect(monitor.observed(health(10)) == [])
        #expect(monitor.observed(health(2000)) == [.retainedWALAbove(bytes: 2000, threshold: 1000)])
        #expect(monitor.observed(health(3000)) == [])
        #expect(monitor.observed(health(500)) == [.retainedWALBackUnder(bytes: 500, threshold: 1000)])
        #expect(monitor.observed(health(500)) == [])
        #expect(monitor.observed(health(0, "lost")) == [.invalidated])
        #expect(monitor.observed(health(0, "lost")) == [])
    }
}
