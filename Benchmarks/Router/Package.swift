// swift-tools-version:6.1
// The router's micro-benchmarks (ordo-one/benchmark), in a package of their own so that the
// project's build and CI do not compile the benchmark harness. Run from this directory:
//   swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "RouterBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "pgreflex"),  // a link to the project root: a package is named by its directory
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
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
    ]
)
