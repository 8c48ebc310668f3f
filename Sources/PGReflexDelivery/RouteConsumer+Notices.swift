import Logging
import PGReflexAgentContract
import PGReflexAgents
import PGReflexJournal
import PGReflexState
import PGReflexWire

/// The machine's notices, as log lines operators grep for.
extension RouteConsumer {
    func log(_ notice: RouteNotice) {
        switch notice {
        case .loopGuard(let eventID, let table, let cause):
            logger.error("an agent's action changed a row that would wake agents \(cause.depth) deep: the chain stops here (loop guard); check the agents' actions for a cycle",
                         metadata: ["event.id": "\(eventID)", "table": "\(table)", "agent.cause": "\(cause.agent)",
                                    "loop.depth": "\(cause.depth)", "loop.max_depth": "\(AgentCausation.maxDepth)"])
        case .skipped(let reason, let total):
            logger.warning("skipped events (each recorded in the state store)", metadata: ["route.skip_reason": "\(reason.rawValue)", "route.skipped": "\(total)"])
        case .held(let table, let version, let pinned, let from):
            logger.error("holding the route's events of a schema version it is not pinned to: other routes go on. Review the change, then add the version to the route's schema_versions", metadata: [
                "table": "\(table)", "schema.version": "\(version)", "route.pinned": "\(pinned.map(String.init).joined(separator: ","))",
                "journal.held_from": "\(from?.description ?? "-")",
            ])
        case .stillHolding(let events, let versions):
            logger.error("still holding events of schema versions the route is not pinned to", metadata: [
                "route.held_events": "\(events)", "route.held_versions": "\(versions.joined(separator: ","))",
            ])
        case .shedPaused(true, let lagOver):
            logger.warning("capture is catching up on a backlog: this route's calls wait until it has (shed: pause)", metadata: ["route.lag_over": "\(lagOver)"])
        case .shedPaused(false, _):
            logger.notice("capture has caught up: this route's calls go on")
        case .call(let line):
            var metadata: Logger.Metadata = [
                "event.id": "\(line.eventID)", "lsn": "\(line.position?.commitLSN.description ?? "-")",
                "attempt": "\(line.attempt)", "outcome": "\(line.outcome)", "duration_ms": "\(Double(line.micros / 100) / 10)",
            ]
            if line.events > 1 { metadata["events"] = "\(line.events)" }
            if let code = line.errorCode { metadata["error.code"] = "\(code.rawValue)" }
            logger.info("agent call", metadata: metadata)
        case .breakerOpened(let error):
            logger.error("the agent failed too often in a row: its circuit breaker opened; events wait for it (none is dead-lettered meanwhile)",
                         metadata: ["error": "\(error)"])
        case .breakerClosed:
            logger.notice("the agent answered again: its circuit breaker closed; calls resume", metadata: ["agent": "\(runtime.name)"])
        case .disabled(let error, let pause):
            logger.error("the agent asked to be disabled: the route pauses and its events wait; nothing is lost",
                         metadata: ["error": "\(error)", "route.paused_for": "\(pause)"])
        case .retrying(let attempt, let delay, let error):
            logger.debug("retrying a failed call", metadata: ["attempt": "\(attempt)", "retry_in": "\(delay)", "error": "\(error)"])
        case .deadLettered(let eventID, let events, let attempts, let error):
            logger.error("dead-lettered: the agent could not handle the event (pgreflex dlq list shows it; dlq retry runs it again)", metadata: [
                "event.id": "\(eventID)", "events": "\(events)", "attempts": "\(attempts)", "error": "\(error)",
            ])
        }
    }
}
