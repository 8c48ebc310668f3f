import Foundation
import PGReflexTestSupport
import Testing

/// Outcomes that must hold across a kill -9 while another key's call is in flight: the route's
/// cursor then stays behind events already dealt with, and the restart reads them again.
@Suite(.postgresCluster, .serialized)
struct RestartOutcomeTests {
    /// Order 11 sleeps (its call is in flight at the kill); order 12 is refused at once
    /// (non-JSON output is a permanent error). Each call is logged to SEEN.
    static let agent = #"""
        import json, os, sys, time
        row = json.load(sys.stdin)["after"]
        with open(os.environ["SEEN"], "a") as seen:
            seen.write(f"{row['id']}\n")
        if row["id"] == 11:
            # Until pgreflex is gone (kill -9 leaves this process to init).
            parent = os.getppid()
            for _ in range(1200):
                if os.getppid() != parent:
                    sys.exit(1)
                time.sleep(0.05)
        if row["id"] == 12:
            print("not json")
        else:
            print(json.dumps({"summary": "ok"}))
        """#

    @Test func aDeadLetteredEventIsNotRunOrDeadLetteredAgainAfterAKillNine() async throws {
        let f = try RouteFixture("dlqonce", tables: "CREATE TABLE orders (id int PRIMARY KEY);")
        defer { f.remove() }
        try Self.agent.write(toFile: f.dir + "/agent.py", atomically: true, encoding: .utf8)
        try f.configure("""
            agents:
              slow: { exec: { command: [python3, ./agent.py], env: { SEEN: \(f.dir)/seen.txt } } }
            routes:
              r: { tables: [\(f.name).orders], agent: slow, concurrency: 4, retries: { attempts: 3, timeout: 5m }, start: earliest }
            """)
        try f.sql("INSERT INTO orders VALUES (11);")
        try f.sql("INSERT INTO orders VALUES (12);")
        func seen() -> [String] {
            ((try? String(contentsOfFile: f.dir + "/seen.txt", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        func letters() -> Int { Int(f.status()["r"]?["dead_letters"] ?? "") ?? -1 }
        for round in 1...3 {
            let pid = PostgresCluster.spawn([f.exe, "run", "--config", f.config, "--log-level", "warning"], standardError: f.dir + "/run\(round).log")
            // Until 12 is dead-lettered (round 1) or, after a restart, until 11 is in flight again.
            for _ in 0..<300 {
                if round == 1 ? letters() == 1 : seen().filter({ $0 == "11" }).count >= round { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            // A moment for a wrong second run of 12 to show.
            try await Task.sleep(for: .milliseconds(round == 1 ? 100 : 1500))
            kill(pid, SIGKILL)
            _ = PostgresCluster.wait(pid)
        }
        #expect(seen().filter { $0 == "11" }.count == 3, "11 was in flight at each kill: \(seen())")
        #expect(seen().filter { $0 == "12" }.count == 1, "12 ran once, though read again twice: \(seen())")
        #expect(letters() == 1, "\(f.command(["dlq", "list", "--config", f.config]).output)")
    }
}
