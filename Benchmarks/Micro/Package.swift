// swift-tools-version:6.1
// Micro-benchmarks (ordo-one/benchmark) of the hot paths one at a time: pgoutput decoding,
// route conditions, privacy policies and the journal's CRC32C, each beside a reference in the
// same run. A package of its own, so that the project's build and CI do not compile the
// benchmark harness. Run from this directory:
//   swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "MicroBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "pgreflex"),  // a link to the project root: a package is named by its directory
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        // Already in pgreflex's graph: the privacy benchmark's reference HMAC.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "CELEvaluation",
            dependencies: [
                .product(name: "PGReflexRouter", package: "pgreflex"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/CELEvaluation",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "PgOutputDecoding",
            dependencies: [
                .product(name: "PGReflexWire", package: "pgreflex"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/PgOutputDecoding",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "PrivacyPolicies",
            dependencies: [
                .product(name: "PGReflexPrivacy", package: "pgreflex"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/PrivacyPolicies",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "JournalChecksum",
            dependencies: [
                .product(name: "PGReflexJournal", package: "pgreflex"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/JournalChecksum",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
