import Foundation
import PGReflexTestSupport
import Testing

/// `shed: {lag_over, action: skip}` against a slow agent's own backlog (issue 35): an event's
/// age is judged again when its call would start, so a queue of stale events is shed, not called.
@Suite(.postgresCluster, .serialized, .timeLimit(.minutes(10)))
struct ShedTests {
    static let slow = #"""
        import json, os, sys, time
        row = json.load(sys.stdin)["after"]
        with open(os.environ["SEEN"], "a") as seen:
            seen.write(f"{row['id']}\n")
        time.sleep(1)
        print(json.dumps({"summary": "ok"}))
        """#

    @Test func aSlowAgentsBacklogIsShedWhenItsCallsWouldStart() throws {
        let f = try RouteFixture("shedq", tables: "CREATE TABLE clicks (id int PRIMARY KEY);")
        defer { f.remove() }
        try Self.slow.write(toFile: f.dir + "/slow.py", atomically: true, encoding: .utf8)
        try f.configure("""
            agents:
              slow: { exec: { command: [python3, ./slow.py], env: { SEEN: \(f.dir)/seen.txt } } }
            routes:
              clicks: { tables: [\(f.name).clicks], ops: [c], agent: slow, concurrency: 1, shed: { lag_over: 2s, action: skip }, start: earliest }
            """)
        let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config], standardError: f.dir + "/run.log")
        // The route is running before the rows arrive: they are fresh when it reads them.
        for _ in 0..<100 where !(FileManager.default.fileExists(atPath: f.dir + "/state")) { usleep(100_000) }
        usleep(500_000)
        try f.sql("INSERT INTO clicks SELECT g FROM generate_series(1, 10) g;")
        var status: [String: String] = [:]
        for _ in 0..<300 {
            usleep(100_000)
            status = f.status()["clicks"] ?? [:]
            let seen = ((try? String(contentsOfFile: f.dir + "/seen.txt", encoding: .utf8)) ?? "").split(separator: "\n").count
            if seen + (Int(status["skipped"]?.split(separator: "=").last ?? "") ?? 0) >= 10 { break }
        }
        kill(pid, SIGTERM)
        _ = PostgresCluster.wait(pid)
        let called = ((try? String(contentsOfFile: f.dir + "/seen.txt", encoding: .utf8)) ?? "").split(separator: "\n").count
        let shed = Int(f.status()["clicks"]?["skipped"]?.replacingOccurrences(of: "shed=", with: "") ?? "") ?? 0
        #expect(called < 10 && called >= 1, "a 1 s agent reaches only the first events within 2 s: \(called) called")
        #expect(called + shed == 10, "the rest are shed, recorded: \(f.status())")
    }
}
