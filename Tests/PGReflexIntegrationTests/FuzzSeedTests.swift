import Foundation
import PGReflexTestSupport
import Testing

/// The committed seed corpus of each libFuzzer harness beyond the wire (Tests/Fuzz/seeds), run
/// once through `pgreflex-fuzz` with its oracles: what `Tests/Fuzz/run.sh` starts from is checked
/// on every CI run, and a harness that no longer builds or holds fails here first.
@Suite(.timeLimit(.minutes(10))) struct FuzzSeedTests {
    static let targets = ["config", "journal", "checkpoint", "outputs", "traces"]

    @Test(arguments: targets) func theSeedsHoldEveryOracle(_ target: String) throws {
        let harness = URL(fileURLWithPath: try pgreflexExecutable()).deletingLastPathComponent().appendingPathComponent("pgreflex-fuzz").path
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/seeds/\(target)")
        let seeds = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted().map { root.appendingPathComponent($0).path }
        #expect(seeds.count >= 4, "a seed corpus for \(target)")
        let result = PostgresCluster.run([harness, target] + seeds)
        #expect(result.status == 0 && result.output.contains("\(target): \(seeds.count) inputs, every oracle held"), "\(result.output)")
    }
}
