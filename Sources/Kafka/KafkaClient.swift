import ServiceLifecycle

/// A Kafka client as a `Service`: built without side effects, hosted by `run()` (its poll
/// thread, then its closing), and shut down by `triggerGracefulShutdown()` or by the graceful
/// shutdown or cancellation of the task that runs it. `KafkaConsumer`, `KafkaProducer` and
/// `KafkaAdminClient` are clients.
public protocol KafkaClient: Service, AnyObject {
    /// Starts the shutdown that `run()` completes. Returns at once; safe from any thread, more
    /// than once, and before `run()` (which then closes at once).
    func triggerGracefulShutdown()
}

extension KafkaClient where Self: Sendable {
    /// Runs `body` with this client running, then shuts it down and awaits its `run()` before
    /// returning, whether `body` returned or threw: nothing outlives the call.
    func scoped<T>(_ body: (Self) async throws -> T) async throws -> T {
        try await withKafkaClients { clients in try await body(clients.run(self)) }
    }
}
