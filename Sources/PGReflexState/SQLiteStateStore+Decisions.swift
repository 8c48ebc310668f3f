import Foundation
import GRDB
public import PGReflexAgentContract
import PGReflexWire

/// Acting agents' decisions (``AgentDecision``), kept before their actions run. Recording one
/// also writes the route's `decided` trace line, in the same transaction. They go with the done
/// records of their events, once the journal no longer holds those.
extension SQLiteStateStore: DecisionLog {
    static func registerDecisions(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9") { db in
            try db.create(table: "decisions") { t in
                t.column("call_key", .text).notNull()
                t.column("number", .integer).notNull()
                t.column("route", .text).notNull()
                t.column("agent", .text).notNull()
                t.column("event_id", .text).notNull()
                t.column("output", .blob).notNull()
                t.column("at", .integer).notNull()
                t.primaryKey(["call_key", "number"])
            }
            try db.create(index: "decisions_event_id", on: "decisions", columns: ["event_id"])
        }
    }

    public func decision(callKey: String) async throws -> AgentDecision? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM decisions WHERE call_key = ? ORDER BY number DESC LIMIT 1", arguments: [callKey]).map(Self.decision)
        }
    }

    public func record(_ decision: AgentDecision) async throws -> AgentDecision {
        try await database.write { db in
            if let kept = try Row.fetchOne(db, sql: "SELECT * FROM decisions WHERE call_key = ? AND number = ?",
                                           arguments: [decision.callKey, decision.number]) {
                return Self.decision(kept)
            }
            try db.execute(sql: "INSERT INTO decisions (call_key, number, route, agent, event_id, output, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [decision.callKey, decision.number, decision.route, decision.agent, decision.eventID,
                                       Data(decision.output), decision.at])
            let trace = RouteTrace(route: decision.route, kind: .decided, events: [decision.eventID], at: decision.at, key: decision.callKey,
                                   detail: "decision \(decision.number)")
            try Self.insertTraces([trace], done: [], at: decision.at, db)
            return decision
        }
    }

    /// Every decision of a route (oldest first): for tests and `results`.
    public func decisions(route: String) async throws -> [AgentDecision] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM decisions WHERE route = ? ORDER BY event_id, number", arguments: [route]).map(Self.decision)
        }
    }

    static func decision(_ row: Row) -> AgentDecision {
        AgentDecision(callKey: row["call_key"], number: row["number"], route: row["route"], agent: row["agent"], eventID: row["event_id"],
                      output: Array((row["output"] as Data?) ?? Data()), at: row["at"])
    }
}
