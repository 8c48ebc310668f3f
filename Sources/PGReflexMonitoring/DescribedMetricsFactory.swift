public import CoreMetrics
public import Prometheus

/// swift-metrics' factory for the Prometheus registry, with each family's help text.
/// `PrometheusMetricsFactory` registers every family with empty help, and `promtool check
/// metrics` then reports "no help text" for each. The libraries keep using plain swift-metrics
/// (`Counter(label:)`); the help comes from one catalogue here, so a scrape documents itself.
public struct DescribedMetricsFactory: MetricsFactory {
    public let registry: PrometheusCollectorRegistry
    /// Buckets per timer label; other timers get `defaultDurationBuckets`.
    public var durationBuckets: [String: [Duration]] = [:]
    public var defaultDurationBuckets: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                                     .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                                                     .milliseconds(2500), .seconds(5), .seconds(10)]
    public var defaultValueBuckets: [Double] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// What each family pgreflex exports measures. A family missing here is exported with its
    /// name as help (the promtool test lists every family a run exports, so one is never missed).
    public static let help: [String: String] = [
        "pgreflex_changes_received_total": "Changes decoded from the replication slot, by table and operation.",
        "pgreflex_replication_lag_bytes": "WAL bytes between the server's current position and the last change captured.",
        "pgreflex_replication_lag_seconds": "Seconds between a captured transaction's commit and its capture.",
        "pgreflex_slot_retained_wal_bytes": "WAL bytes the replication slot keeps on the server.",
        "pgreflex_journal_bytes": "Bytes of the local journal's segments on disk.",
        "pgreflex_consumer_lag_bytes": "Journal bytes a consumer has yet to deliver, by consumer.",
        "pgreflex_route_events_total": "Events a route looked at, by route and outcome (passed, filtered, skipped, ...).",
        "pgreflex_route_queue_depth": "Events admitted by a route and waiting for an agent call, by route.",
        "pgreflex_agent_calls_in_flight": "Agent calls running now, by route and agent.",
        "pgreflex_agent_call_duration_seconds": "How long an agent call took, by route and agent.",
        "pgreflex_commit_to_agent_seconds": "Time from a change's commit to the start of its agent call, by route and agent.",
        "pgreflex_agent_retries_total": "Agent calls retried after a retryable failure, by route and agent.",
        "pgreflex_dead_letters_total": "Events moved to the dead-letter queue, by route and agent.",
        "pgreflex_dead_letter_queue_size": "Entries in the dead-letter queue now, by route.",
        "pgreflex_llm_tokens_total": "Tokens LLM agents used, by agent and kind (prompt or completion).",
        "pgreflex_snapshot_rows_total": "Rows read by snapshots (backfills), by table.",
        "pgreflex_snapshot_notifications_total": "Snapshot signals and notifications handled, by type.",
    ]

    func help(_ label: String) -> String {
        Self.help[label] ?? label
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: defaultValueBuckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions,
                                       buckets: durationBuckets[label] ?? defaultDurationBuckets)
    }

    func descriptor(_ label: String) -> MetricNameDescriptor {
        // The label is the whole name: no unit is appended.
        MetricNameDescriptor(metricName: label, unitName: "", helpText: help(label))
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
