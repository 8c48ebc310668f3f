// swift-tools-version:6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "pgreflex",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pgreflex", targets: ["pgreflex"]),
        .library(name: "PGReflexWire", targets: ["PGReflexWire"]),
        .library(name: "PGReflexTransport", targets: ["PGReflexTransport"]),
        .library(name: "PGReflexEnvelope", targets: ["PGReflexEnvelope"]),
        .library(name: "PGReflexCapture", targets: ["PGReflexCapture"]),
        .library(name: "PGReflexConfig", targets: ["PGReflexConfig"]),
        .library(name: "PGReflexJournal", targets: ["PGReflexJournal"]),
        .library(name: "PGReflexPrivacy", targets: ["PGReflexPrivacy"]),
        .library(name: "PGReflexSchema", targets: ["PGReflexSchema"]),
        .library(name: "PGReflexDelivery", targets: ["PGReflexDelivery"]),
        .library(name: "PGReflexRouter", targets: ["PGReflexRouter"]),
        .library(name: "PGReflexDispatch", targets: ["PGReflexDispatch"]),
        .library(name: "PGReflexAgentContract", targets: ["PGReflexAgentContract"]),
        .library(name: "PGReflexFiles", targets: ["PGReflexFiles"]),
        .library(name: "PGReflexRuntime", targets: ["PGReflexRuntime"]),
        .library(name: "PGReflexTraces", targets: ["PGReflexTraces"]),
        .library(name: "PGReflexState", targets: ["PGReflexState"]),
        .library(name: "PGReflexSnapshot", targets: ["PGReflexSnapshot"]),
        .library(name: "PGReflexAgents", targets: ["PGReflexAgents"]),
        .library(name: "PGReflexTools", targets: ["PGReflexTools"]),
        .library(name: "PGReflexThreads", targets: ["PGReflexThreads"]),
        .library(name: "PGReflexTestSupport", targets: ["PGReflexTestSupport"]),
    ],
    // pgreflex is an application: each dependency is pinned to the minor version it is built and
    // tested with (patch releases only), so an image and every clone build the same code.
    // Package.resolved stays out of git: this machine's package copies have commit ids of their own.
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", .upToNextMinor(from: "1.8.2")),
        .package(url: "https://github.com/apple/swift-log.git", .upToNextMinor(from: "1.16.2")),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", .upToNextMinor(from: "2.13.0")),
        .package(url: "https://github.com/jpsim/Yams.git", .upToNextMinor(from: "6.2.2")),
        .package(url: "https://github.com/apple/swift-crypto.git", .upToNextMinor(from: "4.5.2")),
        .package(url: "https://github.com/groue/GRDB.swift.git", .upToNextMinor(from: "7.10.0")),
        .package(url: "https://github.com/swift-server/async-http-client.git", .upToNextMinor(from: "1.37.0")),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", .upToNextMinor(from: "2.28.1")),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", .upToNextMinor(from: "1.0.2")),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", .upToNextMinor(from: "2.1.1")),
        // Already in the graph through swift-subprocess; named for FilePath.
        .package(url: "https://github.com/apple/swift-system.git", .upToNextMinor(from: "1.8.1")),
        // Already in the graph through Hummingbird; named for its header types in tests.
        .package(url: "https://github.com/apple/swift-http-types.git", .upToNextMinor(from: "1.8.0")),
        .package(url: "https://github.com/apple/swift-metrics.git", .upToNextMinor(from: "2.13.0")),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", .upToNextMinor(from: "2.4.1")),
    ],
    targets: [
        // libpq, seen through pkg-config. Only PGReflexTransport may import it.
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // Pure wire formats: LSNs, the replication CopyData frames and pgoutput. No I/O.
        .target(
            name: "PGReflexWire",
            swiftSettings: strictSettings
        ),
        // Executors on dedicated OS threads, for work that blocks (libpq, sinks), and the two
        // signals between threads: `WakeSignal` (a writer wakes its readers) and `StopFlag`.
        .target(
            name: "PGReflexThreads",
            swiftSettings: strictSettings
        ),
        // The one module that talks to libpq: connections, slots, publications, the stream.
        .target(
            name: "PGReflexTransport",
            dependencies: [
                "CLibPQ",
                "PGReflexThreads",
                "PGReflexWire",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // What a running pipeline is doing (capture state, routes, latencies), for the status
        // page, /readyz, `pgreflex status` and the demo. No I/O.
        .target(
            name: "PGReflexStatus",
            dependencies: ["PGReflexWire", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strictSettings
        ),
        // The operator's side of `run`: /metrics, /healthz, /readyz and the status page
        // (Hummingbird, swift-prometheus), and the status file `pgreflex status` reads.
        .target(
            name: "PGReflexMonitoring",
            dependencies: [
                "PGReflexDelivery",
                "PGReflexRouter",
                "PGReflexSnapshot",
                "PGReflexTransport",
                "PGReflexJournal",
                "PGReflexState",
                "PGReflexStatus",
                "PGReflexWire",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Column policies (hash, tokenize, mask, redact, drop) and their keys.
        .target(
            name: "PGReflexPrivacy",
            dependencies: [
                "PGReflexWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Table schemas, their fingerprints and compatibility, and the Schemas/ registry.
        .target(
            name: "PGReflexSchema",
            dependencies: ["PGReflexWire", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Pure: pgoutput messages assembled into changes (transactions, streamed transactions),
        // and changes encoded as Debezium envelopes, with privacy applied. No I/O.
        .target(
            name: "PGReflexEnvelope",
            dependencies: ["PGReflexPrivacy", "PGReflexWire"],
            swiftSettings: strictSettings
        ),
        // Capture: slot -> decode -> envelope -> privacy -> journal (and `tail`'s stdout).
        // With the commands, the only importer of PGReflexTransport.
        .target(
            name: "PGReflexCapture",
            dependencies: [
                "PGReflexAgentContract",
                "PGReflexThreads",
                "PGReflexDispatch",
                "PGReflexEnvelope",
                "PGReflexFiles",
                "PGReflexSnapshot",
                "PGReflexJournal",
                "PGReflexPrivacy",
                "PGReflexSchema",
                "PGReflexStatus",
                "PGReflexTransport",
                "PGReflexWire",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The YAML configuration model: the only importer of Yams.
        .target(
            name: "PGReflexConfig",
            dependencies: [
                "PGReflexSnapshot",
                "PGReflexTransport",
                "PGReflexFiles",
                "PGReflexAgentContract",
                "PGReflexTools",
                "PGReflexAgents",
                "PGReflexDispatch",
                "PGReflexJournal",
                "PGReflexPrivacy",
                "PGReflexRouter",
                "PGReflexSchema",
                "PGReflexStatus",
                "PGReflexWire",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // RE2 (Debian's libre2-dev) behind a C face: `matches` runs in time linear in the input,
        // as CEL specifies. Only PGReflexRouter imports it.
        .target(
            name: "CRE2",
            linkerSettings: [.linkedLibrary("re2")]
        ),
        // Pure: routes and the CEL subset their conditions are written in.
        .target(
            name: "PGReflexRouter",
            dependencies: ["CRE2", "PGReflexDispatch", "PGReflexWire"],
            swiftSettings: strictSettings
        ),
        // Pure: the dispatcher's state machines (flow control, per-key order, retries, the
        // circuit breaker), generic over a clock.
        .target(
            name: "PGReflexDispatch",
            swiftSettings: strictSettings
        ),
        // What an agent is to the dispatcher, and nothing else: `Agent`, `AgentCall`, its events,
        // outcomes and errors, and the causation (loop guard) bookkeeping. Tools and every agent
        // depend on it; it depends on nothing.
        .target(
            name: "PGReflexAgentContract",
            swiftSettings: strictSettings
        ),
        // Pure: snapshots (initial and incremental, DBLog): jobs and their progress, chunk
        // windows between watermarks, the chunk queries, the store they are kept in.
        .target(
            name: "PGReflexSnapshot",
            dependencies: ["PGReflexWire"],
            swiftSettings: strictSettings
        ),
        // The dispatcher's durable state: the `StateStore` protocol and what it keeps (done
        // records, route cursors, windows, skips, results, the dead-letter queue), and its
        // implementation in embedded SQLite (GRDB).
        .target(
            name: "PGReflexState",
            dependencies: ["PGReflexAgentContract", "PGReflexSnapshot", "PGReflexWire", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings
        ),
        // Typed tools agents act through (SQL, logical messages, HTTP), each run once under an
        // idempotency key, with a receipt; and the runner that carries out a decision's actions.
        .target(
            name: "PGReflexTools",
            dependencies: [
                "PGReflexAgentContract",
                "PGReflexDispatch",
                "PGReflexPrivacy",
                "PGReflexTransport",
                "PGReflexWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Every kind of agent: webhooks, `exec`, LLM calls, the built-in `file`, `log` and
        // `noop`; the factory from settings; an agent with its circuit breaker as routes share it.
        .target(
            name: "PGReflexAgents",
            dependencies: [
                "PGReflexAgentContract",
                "PGReflexDispatch",
                "PGReflexFiles",
                "PGReflexPrivacy",
                "PGReflexTools",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),
        // Delivery: named consumers following the journal, each with its own cursor; sinks; replay.
        .target(
            name: "PGReflexDelivery",
            dependencies: [
                "PGReflexAgentContract",
                "PGReflexAgents",
                "PGReflexDispatch",
                "PGReflexFiles",
                "PGReflexState",
                "PGReflexJournal",
                "PGReflexRouter",
                "PGReflexSchema",
                "PGReflexStatus",
                "PGReflexThreads",
                "PGReflexWire",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Builds a running pipeline from a parsed configuration: capture, the consumers, the
        // routes with their agents and tools, the status reporter and server, as services of
        // one group. `run`, `replay`, `demo` and `dlq retry` build through it.
        .target(
            name: "PGReflexRuntime",
            dependencies: [
                "PGReflexPrivacy",
                "PGReflexRouter",
                "PGReflexTransport",
                "PGReflexAgentContract",
                "PGReflexAgents",
                "PGReflexCapture",
                "PGReflexConfig",
                "PGReflexDelivery",
                "PGReflexJournal",
                "PGReflexMonitoring",
                "PGReflexState",
                "PGReflexStatus",
                "PGReflexTools",
                "PGReflexWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Golden traces: canonical events with the decisions they led to, recorded with side
        // effects off and replayed in CI against the current configuration (`pgreflex trace`).
        .target(
            name: "PGReflexTraces",
            dependencies: [
                "PGReflexAgentContract",
                "PGReflexAgents",
                "PGReflexConfig",
                "PGReflexDelivery",
                "PGReflexFiles",
                "PGReflexJournal",
                "PGReflexPrivacy",
                "PGReflexRouter",
                "PGReflexTools",
                "PGReflexTransport",
                "PGReflexWire",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "pgreflex",
            dependencies: [
                "PGReflexRuntime",
                "PGReflexTraces",
                "PGReflexAgentContract",
                "PGReflexAgents",
                "PGReflexCapture",
                "PGReflexConfig",
                "PGReflexDelivery",
                "PGReflexEnvelope",
                "PGReflexFiles",
                "PGReflexJournal",
                "PGReflexLocalPostgres",
                "PGReflexMonitoring",
                "PGReflexPrivacy",
                "PGReflexRouter",
                "PGReflexSchema",
                "PGReflexSnapshot",
                "PGReflexState",
                "PGReflexStatus",
                "PGReflexTools",
                "PGReflexTransport",
                "PGReflexWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            // The demo's configurations, SQL and example agents, compiled in so that `pgreflex
            // demo` runs wherever the binary is (Demo/ links to examples/, the one copy).
            resources: [.embedInCode("Demo")],
            swiftSettings: strictSettings
        ),
        // Files as pgreflex writes and reads them: nameless until linked, written whole, read
        // bounded, and a JSON-lines file synced in groups (the file sink and agent). Used by the
        // journal, capture, delivery and agents.
        .target(
            name: "PGReflexFiles",
            swiftSettings: strictSettings
        ),
        // The CRC-32C instruction (SSE4.2, ARMv8 CRC), found at run time: Swift has no intrinsics.
        .target(name: "CCRC32C"),
        // The durable local journal: segments of CRC-checked records, and the acknowledgement watermark.
        .target(
            name: "PGReflexJournal",
            dependencies: ["PGReflexThreads", "CCRC32C", "PGReflexFiles", "PGReflexWire", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // Journal append throughput against plain write+fdatasync (README.md, "Journal appends").
        // The libFuzzer harnesses beyond the wire (configuration, journal files, agents' outputs),
        // built with libFuzzer by Tests/Fuzz/run.sh; a debug build runs inputs once (the tests
        // replay the committed seeds through it).
        .executableTarget(
            name: "pgreflex-fuzz",
            dependencies: [
                "PGReflexAgentContract", "PGReflexAgents", "PGReflexConfig", "PGReflexDelivery", "PGReflexJournal", "PGReflexRouter", "PGReflexTools",
                "PGReflexTraces",
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            path: "Tests/Fuzz/Harness",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "journal-append-bench",
            dependencies: ["PGReflexJournal", "PGReflexWire", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/JournalAppend",
            swiftSettings: strictSettings
        ),
        // A throwaway local PostgreSQL from the machine's binaries (swift-subprocess), for
        // `pgreflex demo`; the tests' clusters share its helpers.
        .target(
            name: "PGReflexLocalPostgres",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),
        // Throwaway PostgreSQL clusters for tests and benchmarks.
        .target(
            name: "PGReflexTestSupport",
            dependencies: ["PGReflexLocalPostgres", "PGReflexTransport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexWireTests",
            dependencies: ["PGReflexWire", "PGReflexTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexTransportTests",
            dependencies: ["PGReflexCapture", "PGReflexTransport", "PGReflexTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexJournalTests",
            dependencies: [
                "PGReflexThreads",
                "PGReflexFiles",
                "PGReflexJournal", "PGReflexWire", "PGReflexTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexSchemaTests",
            dependencies: ["PGReflexSchema"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexPrivacyTests",
            dependencies: ["PGReflexPrivacy", "PGReflexTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexDeliveryTests",
            dependencies: [
                "PGReflexFiles",
                "PGReflexAgentContract", "PGReflexAgents", "PGReflexDelivery", "PGReflexDispatch", "PGReflexJournal", "PGReflexRouter",
                "PGReflexSchema", "PGReflexState", "PGReflexTestSupport", "PGReflexTools", "PGReflexWire",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexTracesTests",
            dependencies: ["PGReflexAgentContract", "PGReflexConfig", "PGReflexDelivery", "PGReflexTraces"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexSnapshotTests",
            dependencies: ["PGReflexSnapshot", "PGReflexWire"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexDispatchTests",
            dependencies: ["PGReflexAgentContract", "PGReflexDispatch", "PGReflexTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexStateTests",
            dependencies: ["PGReflexState", "PGReflexWire", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexStatusTests",
            dependencies: ["PGReflexStatus", "PGReflexTestSupport", .product(name: "MetricsTestKit", package: "swift-metrics")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexRouterTests",
            dependencies: ["PGReflexRouter", "PGReflexTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexEnvelopeTests",
            dependencies: ["PGReflexEnvelope", "PGReflexTestSupport", "PGReflexWire"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexCaptureTests",
            dependencies: [
                "PGReflexFiles",
                "PGReflexCapture", "PGReflexDelivery", "PGReflexEnvelope", "PGReflexJournal", "PGReflexSchema", "PGReflexTestSupport", "PGReflexTransport",
                "PGReflexWire",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexConfigTests",
            dependencies: [
                "PGReflexRuntime",
                "PGReflexAgents",
                "PGReflexCapture", "PGReflexConfig", "PGReflexDelivery", "PGReflexDispatch", "PGReflexJournal", "PGReflexRouter",
                "PGReflexSchema", "PGReflexStatus", "PGReflexTransport", "PGReflexWire",
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PGReflexIntegrationTests",
            dependencies: [
                "PGReflexFiles",
                "pgreflex",
                "PGReflexCapture",
                "PGReflexConfig",
                "PGReflexEnvelope",
                "PGReflexState",
                "PGReflexPrivacy",
                "PGReflexSchema",
                "PGReflexJournal",
                "PGReflexThreads",
                "PGReflexTools",
                "PGReflexTraces",
                "PGReflexTransport",
                "PGReflexWire",
                "PGReflexTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                // Reading the state store's tables where no command shows them.
                .product(name: "GRDB", package: "GRDB.swift"),
                // A real HTTP server on 127.0.0.1 for the webhook agent's tests.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Golden"],
            swiftSettings: strictSettings
        ),
    ]
)
