import Foundation
import PGReflexStatus
import Testing

struct LatencyHistogramTests {
    @Test func percentilesAreWithinABucketOfTheTruth() {
        var histogram = LatencyHistogram()
        for micros in 1...10_000 { histogram.record(micros: Int64(micros)) }
        for (q, truth) in [(0.5, 5000.0), (0.95, 9500.0), (0.99, 9900.0)] {
            let value = Double(histogram.percentile(q)!)
            #expect(value >= truth && value <= truth * 1.05, "p\(q): \(value) against \(truth)")
        }
        #expect(histogram.percentile(1) == 10_000 && histogram.total == 10_000)
        #expect(LatencyHistogram().percentile(0.5) == nil)
        var slow = LatencyHistogram()
        for seconds: Int64 in [7, 9, 60] { slow.record(micros: seconds * 1_000_000) }
        #expect(Double(slow.percentile(0.5)!) >= 9e6 && Double(slow.percentile(0.5)!) <= 9.4e6, "seconds are not clamped: \(slow.percentile(0.5)!)")
    }

    @Test func aHistogramSurvivesItsSparseEncodingAndMerges() throws {
        var a = LatencyHistogram()
        var b = LatencyHistogram()
        for micros: Int64 in [0, 3, 700, 20_000, 9_000_000_000] { a.record(micros: micros) }
        b.record(micros: 1500)
        let data = try JSONEncoder().encode(a)
        #expect(data.count < 200, "only the buckets in use: \(String(decoding: data, as: UTF8.self))")
        #expect(try JSONDecoder().decode(LatencyHistogram.self, from: data) == a)
        a.merge(b)
        #expect(a.total == 6 && a.maximum == 9_000_000_000)
    }
}

struct PipelineStatusTests {
    @Test func readyOnlyWhileStreamingAndSaysWhyNot() {
        let status = PipelineStatus()
        #expect(status.readiness.ready == false && status.readiness.reason.contains("connecting"))
        status.updateCapture { $0.state = .streaming }
        #expect(status.readiness == (true, "streaming"))
        status.updateCapture {
            $0.state = .paused
            $0.reason = "the journal is full until consumer slow catches up"
        }
        #expect(status.readiness.ready == false && status.readiness.reason.contains("consumer slow"))
        status.updateCapture {
            $0.state = .reconnecting
            $0.reason = "connection_lost"
        }
        #expect(status.readiness.reason == "capture lost its connection and is reconnecting: connection_lost")
    }

    @Test func lagIsZeroOnceCaughtUp() {
        var capture = CaptureStatus()
        capture.progress.serverWALEnd = 1000
        capture.progress.receivedLSN = 400
        capture.progress.lastCommitTime = 1_000_000
        #expect(capture.progress.lagBytes == 600 && capture.progress.lagSeconds(now: 3_500_000) == 2.5)
        capture.progress.caughtUp = true
        #expect(capture.progress.lagBytes == 0 && capture.progress.lagSeconds(now: 3_500_000) == 0)
    }

    @Test func thePageEscapesWhatItShowsAndTheTextReadsAtAGlance() {
        let status = PipelineStatus(pid: 42, startedAt: 0)
        status.updateCapture {
            $0.state = .paused
            $0.reason = "consumer <b>&\"x\""
            $0.slot = "s"
        }
        var route = RouteStatus(agent: "a<script>")
        route.calls = 3
        route.commitToAgent.record(micros: 1500)
        status.updateRoute("r", route)
        status.updateDeadLetters(["r": 2])
        let report = status.report(now: 5_000_000)
        let html = report.html(now: 5_000_000)
        #expect(!html.contains("<script>") && html.contains("a&lt;script&gt;") && html.contains("consumer &lt;b&gt;&amp;&quot;x&quot;"))
        #expect(!html.contains("<script") && !html.contains("src=\"http"), "no scripts, no external assets")
        let text = report.text(now: 6_000_000, running: true)
        #expect(text.contains("pgreflex run: running (pid 42, up 6s)") && text.contains("capture: paused") && text.contains("dead letters: 2"), "\(text)")
    }

    /// A configuration that never ran: the slot is "not created" when the database says so, and
    /// "unknown" when nobody asked it, never "confirmed 0/0". The routes table's dead letters are
    /// the queue's, as the line below it (issue 27, item 12).
    @Test func aSlotNeverSeenIsNotReportedAtZeroAndDeadLettersAgree() {
        var report = StatusReport()
        report.capture.slot = "bad_slot"
        #expect(report.text(now: 1, running: false).contains("slot bad_slot: unknown"))
        report.capture.slotExists = false
        let missing = report.text(now: 1, running: false)
        #expect(missing.contains("slot bad_slot: not created") && !missing.contains("confirmed 0/0"), "\(missing)")
        var route = RouteStatus(agent: "a")
        route.deadLettered = 1  // since the run started; the queue was emptied by dlq retry since
        report.routes["r"] = route
        report.deadLetters = [:]
        let text = report.text(now: 1, running: false)
        let row = text.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("r ") }.map(String.init) ?? ""
        #expect(row.split(separator: " ", omittingEmptySubsequences: true)[9] == "0", "\(text)")
        #expect(text.contains("dead letters: 0"))
    }
}
