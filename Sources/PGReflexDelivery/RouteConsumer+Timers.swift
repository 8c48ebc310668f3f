import Logging
import PGReflexDispatch
import PGReflexRouter

/// What waits on time: debounces, batches, windows that can no longer complete, and the
/// per-key state that no longer matters.
extension RouteConsumer {
    func flushDue(now: ContinuousClock.Instant) {
        if debounce != nil {
            for (_, event) in debounce!.due(now: now) {
                enqueue(Job(events: [event], key: event.key, group: nil, priority: 0))
            }
        }
        if batcher != nil {
            for (key, events) in batcher!.due(now: now) {
                enqueue(Job(events: events, key: "batch:" + key, group: nil, priority: 0))
            }
        }
        if window != nil, now >= nextWindowPrune {
            nextWindowPrune = now.advanced(by: .seconds(1))
            for old in window!.prune(before: UnixTime(microseconds: wallMicros())) { leaveWindow(old) }
        }
        // Memory follows the keys active lately, not every key ever seen.
        if now >= nextKeyPrune {
            nextKeyPrune = now.advanced(by: .seconds(10))
            throttle?.prune(now: now)
            rateLimit?.prune(now: now)
            if let period = settings.idempotency?.period {
                idempotencyRun = idempotencyRun.filter { $0.value.duration(to: now) < period }
            }
        }
    }

    /// Capture has finished: what waits for a quiet period or a full batch goes now.
    func flushAll(now: ContinuousClock.Instant) {
        if debounce != nil {
            for (_, event) in debounce!.due(now: .now.advanced(by: .seconds(86_400 * 365))) {
                enqueue(Job(events: [event], key: event.key, group: nil, priority: 0))
            }
        }
        if batcher != nil {
            for (key, events) in batcher!.drain() { enqueue(Job(events: events, key: "batch:" + key, group: nil, priority: 0)) }
        }
    }

    func nextDeadline(now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        var deadline = [debounce?.nextDeadline, batcher?.nextDeadline, nextAdmission].compactMap { $0 }.min()
        if window?.waiting ?? 0 > 0 { deadline = min(deadline ?? nextWindowPrune, nextWindowPrune) }
        return deadline
    }
}
