import PGReflexJournal
public import ServiceLifecycle

/// The delivery half of `run`: every configured consumer, each at its own pace, in one
/// `Service` beside capture. The two meet only at the journal and its ``JournalChannel``.
///
/// It ends when capture has finished and every consumer has delivered what is durable, or, on
/// a graceful shutdown (SIGTERM), once each consumer has delivered the batch in hand and saved
/// its cursor. A consumer's failure ends the others the same way, then is thrown.
public final class DeliveryService: Service, Sendable {
    let consumers: [any DeliveryConsumer]

    public init(consumers: [any DeliveryConsumer]) {
        self.consumers = consumers
    }

    public func run() async throws {
        let consumers = self.consumers
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for consumer in consumers {
                    group.addTask { try await consumer.run() }
                }
                do {
                    try await group.waitForAll()
                } catch {
                    for consumer in consumers { consumer.requestStop() }
                    try? await group.waitForAll()
                    throw error
                }
            }
        } onGracefulShutdown: {
            for consumer in consumers { consumer.requestStop() }
        }
    }
}

/// A journal consumer the delivery service runs: a file consumer or a route.
public protocol DeliveryConsumer: Actor {
    func run() async throws
    /// Finish the work in hand, save the cursor, and return from `run`.
    nonisolated func requestStop()
}

extension JournalConsumer: DeliveryConsumer {}
extension RouteConsumer: DeliveryConsumer {}
