import PGReflexDispatch
import PGReflexTestSupport
import Testing

/// The dispatcher's state machines, driven by a test clock: nothing sleeps.
@Suite struct FlowControlTests {
    func at(_ seconds: Int) -> TestInstant { .at(seconds) }
    func at(ms: Int) -> TestInstant { TestInstant(offset: .milliseconds(ms)) }

    @Test func throttleSpacesStartsAndAllowsItsBurst() {
        // 2 per second, bursts of 2: two at once, then one every 500 ms.
        var gcra = GCRA<TestInstant>(limit: 2, period: .seconds(1), burst: 2)
        #expect(gcra.take("k", now: at(0)) == nil)
        #expect(gcra.take("k", now: at(0)) == nil)
        #expect(gcra.take("k", now: at(0)) == at(ms: 500), "the third waits for its turn")
        #expect(gcra.take("k", now: at(ms: 500)) == nil)
        #expect(gcra.take("k", now: at(ms: 600)) == at(ms: 1000))
        #expect(gcra.take("other", now: at(ms: 600)) == nil, "keys are independent")
        // After a quiet spell the burst is back, never more.
        #expect(gcra.take("k", now: at(10)) == nil)
        #expect(gcra.take("k", now: at(10)) == nil)
        #expect(gcra.take("k", now: at(10)) != nil)
        gcra.prune(now: at(100))
        #expect(gcra.trackedKeys == 0)
    }

    @Test func rateLimitSkipsWhatDoesNotConform() {
        // rate_limit: 1 per minute per key; the owner skips (and counts) what does not conform.
        var gcra = GCRA<TestInstant>(limit: 1, period: .seconds(60))
        var skipped = 0
        for second in stride(from: 0, to: 180, by: 10) where gcra.take("customer-7", now: at(second)) != nil { skipped += 1 }
        #expect(skipped == 15, "3 of 18 pass: one a minute")
    }

    @Test func debounceRunsTheLastEventOnceTheKeyIsQuiet() {
        var debounce = Debounce<TestInstant, Int>(period: .seconds(5), timeout: .seconds(30))
        var superseded: [Int] = []
        for (i, second) in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].enumerated() {
            for case .superseded(let event) in debounce.received(i, key: "order-1", now: at(second)) { superseded.append(event) }
        }
        #expect(superseded == Array(0..<9), "ten quick updates: nine superseded")
        #expect(debounce.due(now: at(13)).isEmpty)
        #expect(debounce.nextDeadline == at(14))
        let fired = debounce.due(now: at(14))
        #expect(fired.map(\.event) == [9], "one call, with the final state")
        // The timeout caps the delay under a steady stream.
        var capped = Debounce<TestInstant, Int>(period: .seconds(5), timeout: .seconds(12))
        for second in stride(from: 0, through: 20, by: 2) { _ = capped.received(second, key: "k", now: at(second)) }
        #expect(capped.nextDeadline == at(12))
    }

    @Test func batchesFlushWhenFullAndWhenTheirTimeoutPasses() {
        var batcher = Batcher<TestInstant, Int>(maxSize: 50, timeout: .seconds(2))
        var full: [Int]?
        for i in 0..<50 { full = batcher.add(i, now: at(0)) ?? full }
        #expect(full == Array(0..<50))
        for i in 50..<60 { #expect(batcher.add(i, now: at(1)) == nil) }
        #expect(batcher.due(now: at(2)).isEmpty)
        #expect(batcher.nextDeadline == at(3))
        #expect(batcher.due(now: at(3)).map(\.events) == [Array(50..<60)])
        _ = batcher.add(1, key: "a", now: at(4))
        #expect(batcher.drain().map(\.key) == ["a"])
    }

    @Test func aWindowFiresOnceForCountEventsWithinItsPeriod() {
        // Three orders over 500 by one customer within ten minutes: one breach.
        var window = SlidingWindow<TestInstant, String>(count: 3, period: .seconds(600))
        #expect(window.add("o1", key: "c7", at: at(0)).fired == nil)
        #expect(window.add("o2", key: "c7", at: at(300)).fired == nil)
        #expect(window.add("x1", key: "c8", at: at(310)).fired == nil)
        #expect(window.add("o3", key: "c7", at: at(599)).fired == ["o1", "o2", "o3"])
        #expect(window.add("o4", key: "c7", at: at(600)).fired == nil, "the window starts afresh")
        // Two within the period, the third too late: no breach, the first falls out (and is returned).
        var slow = SlidingWindow<TestInstant, String>(count: 3, period: .seconds(600))
        _ = slow.add("a", key: "k", at: at(0))
        _ = slow.add("b", key: "k", at: at(100))
        let late = slow.add("c", key: "k", at: at(600))
        #expect(late.fired == nil && late.expired == ["a"])
        #expect(slow.openEvents == ["b", "c"] && slow.waiting == 2)
        #expect(slow.prune(before: at(2000)) == ["b", "c"])
        #expect(slow.openEvents.isEmpty)
    }

    @Test func retriesBackOffWithFullJitterOrAsTold() {
        let policy = RetryPolicy(attempts: 4, initial: .seconds(1), max: .seconds(10), multiplier: 3)
        var random = SplitMix64(seed: 1)
        for _ in 0..<100 {
            let first = policy.delay(before: 2, using: &random)!
            let third = policy.delay(before: 4, using: &random)!
            #expect(first >= .zero && first <= .seconds(1))
            #expect(third >= .zero && third <= .seconds(9))
        }
        let afterLast = policy.delay(before: 5, using: &random)
        let told = policy.delay(before: 2, retryAfter: .seconds(7), using: &random)
        let toldLonger = policy.delay(before: 2, retryAfter: .seconds(70), using: &random)
        #expect(afterLast == nil, "four attempts in all")
        #expect(told == .seconds(7), "429 Retry-After is honoured")
        #expect(toldLonger == .seconds(70), "never sooner than Retry-After, even past the backoff's max (it was capped at max: issue 26)")
        #expect(policy.decide(before: 2, retryAfter: .seconds(3601), using: &random) == .retryAfterTooLong(.seconds(3601)),
                "past retry_after_max the call fails instead of retrying early")
        var ceiling = policy
        ceiling.retryAfterMax = .seconds(5)
        #expect(ceiling.decide(before: 2, retryAfter: .seconds(7), using: &random) == .retryAfterTooLong(.seconds(7)))
        #expect(ceiling.decide(before: 5, retryAfter: .seconds(1), using: &random) == .exhausted)
    }

    @Test func theBreakerOpensProbesAndCloses() {
        var breaker = CircuitBreaker<TestInstant>(threshold: 3, coolDown: .seconds(30))
        #expect(breaker.decide(now: at(0)) == .call)
        let opened = [breaker.failed(now: at(1)), breaker.failed(now: at(2)), breaker.failed(now: at(3))]
        #expect(opened == [false, false, true], "the third failure in a row opens it")
        #expect(breaker.decide(now: at(10)) == .wait(until: at(33)))
        #expect(breaker.decide(now: at(33)) == .probe)
        #expect(breaker.decide(now: at(34)) == .wait(until: nil), "one probe at a time")
        breaker.failed(now: at(35))
        #expect(breaker.decide(now: at(40)) == .wait(until: at(65)))
        #expect(breaker.decide(now: at(65)) == .probe)
        let closed = breaker.succeeded()
        #expect(closed, "the probe's success closes it, and says so (the owner logs the closing)")
        #expect(breaker.decide(now: at(66)) == .call)
        #expect(breaker.state == .closed(failures: 0))
        let again = breaker.succeeded()
        #expect(!again, "a success while closed closes nothing")
    }

    @Test func keysRunInOrderAndInParallelUpToTheLimit() {
        var queue = KeyedQueue<Int>(limit: 2)
        for (i, key) in ["a", "a", "b", "c", "b"].enumerated() { queue.enqueue(i, key: key) }
        #expect(queue.start().map(\.event) == [0, 2], "a and b start; a's second waits for a; c waits for a slot")
        #expect(queue.start().isEmpty)
        queue.finished(key: "a")
        #expect(queue.start().map(\.event) == [1], "a's second goes before c: a slot, in commit order")
        queue.finished(key: "b")
        #expect(queue.start().map(\.event) == [3], "c; b's second waits for no one now but the limit")
        queue.finished(key: "a")
        #expect(queue.start().map(\.event) == [4])
        #expect(queue.queued == 0 && queue.inFlight == 2)
        // A failing key holds only itself.
        var poisoned = KeyedQueue<Int>(limit: 8)
        for i in 0..<6 { poisoned.enqueue(i, key: i % 2 == 0 ? "poison" : "k\(i)") }
        #expect(poisoned.start().map(\.event) == [0, 1, 3, 5])
        #expect(poisoned.queued == 2)
    }

    @Test func aRetryKeepsItsKeyBlockedButFreesItsSlot() {
        var queue = KeyedQueue<Int>(limit: 1)
        queue.enqueue(0, key: "a")
        queue.enqueue(1, key: "a")
        queue.enqueue(2, key: "b")
        #expect(queue.start().map(\.event) == [0])
        queue.retry(0, key: "a")
        #expect(queue.inFlight == 0)
        // The backoff has not passed: a's retry waits, and a's later event waits behind it; b goes.
        #expect(queue.start { $0 != 0 }.map(\.event) == [2])
        queue.finished(key: "b")
        #expect(queue.start().map(\.event) == [0], "the retry comes before a's later event")
        queue.finished(key: "a")
        #expect(queue.start().map(\.event) == [1])
    }

    @Test func priorityOrdersKeysButNeverOneKeysEvents() {
        var queue = KeyedQueue<Int>(limit: 1)
        queue.enqueue(0, key: "a", priority: 0)
        queue.enqueue(1, key: "b", priority: 5)
        queue.enqueue(2, key: "b", priority: 9)
        queue.enqueue(3, key: "c", priority: 7)
        var order: [Int] = []
        while queue.queued > 0 || queue.inFlight > 0 {
            let started = queue.start()
            order += started.map(\.event)
            for (key, _) in started { queue.finished(key: key) }
        }
        #expect(order == [3, 1, 2, 0], "c (7) then b's two in order (b's first waits at 5), then a")
    }

    @Test func aConcurrencyKeyLimitsEachGroup() {
        var queue = KeyedQueue<Int>(limit: 10, groupLimit: 2)
        for i in 0..<6 { queue.enqueue(i, key: "k\(i)", group: i < 4 ? "tenant-a" : "tenant-b") }
        #expect(queue.start().map(\.event) == [0, 1, 4, 5])
    }
}
