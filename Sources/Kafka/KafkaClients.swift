import Synchronization

/// Runs Kafka clients for the length of `body`, each client's `run()` in a child task of one
/// task group: the form for code that needs several clients with different lifetimes (a test,
/// the benchmark). When `body` ends, every client still running is shut down, and all are
/// awaited before this returns, so nothing outlives the call. A client's own failure (a refused
/// subscription, say) is thrown in preference to `body`'s, since it is the cause.
public func withKafkaClients<T>(_ body: (KafkaClients) async throws -> T) async throws -> T {
    let (starts, continuation) = AsyncStream.makeStream(of: KafkaClients.Entry.self)
    let clients = KafkaClients(starts: continuation)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            try await withThrowingDiscardingTaskGroup { running in
                for await entry in starts {
                    running.addTask {
                        defer { entry.stopped.finish() }
                        try await entry.client.run()
                    }
                }
            }
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await body(clients))
        } catch {
            result = .failure(error)
        }
        clients.stopAll()
        try await group.waitForAll()
        return try result.get()
    }
}

/// The clients `withKafkaClients` runs: `run(_:)` starts one, `stop(_:)` shuts one down early
/// and waits until it has closed (a consumer has left its group, a producer has flushed).
public final class KafkaClients: Sendable {
    struct Entry: Sendable {
        let client: any KafkaClient & Sendable
        let stopped: AsyncStream<Never>.Continuation
        let closed: AsyncStream<Never>
    }

    private let starts: AsyncStream<Entry>.Continuation
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    init(starts: AsyncStream<Entry>.Continuation) {
        self.starts = starts
    }

    /// Starts `client`'s `run()` and returns the client.
    @discardableResult
    public func run<Client: KafkaClient & Sendable>(_ client: Client) -> Client {
        let (closed, stopped) = AsyncStream.makeStream(of: Never.self)
        let entry = Entry(client: client, stopped: stopped, closed: closed)
        entries.withLock { $0[ObjectIdentifier(client)] = entry }
        if case .terminated = starts.yield(entry) {
            // Started after the scope ended: closed at once, never run.
            client.triggerGracefulShutdown()
            stopped.finish()
        }
        return client
    }

    /// Shuts `client` down and returns once its `run()` has returned.
    public func stop(_ client: some KafkaClient & Sendable) async {
        guard let entry = entries.withLock({ $0.removeValue(forKey: ObjectIdentifier(client)) }) else { return }
        entry.client.triggerGracefulShutdown()
        for await _ in entry.closed {}
    }

    func stopAll() {
        starts.finish()
        let remaining = entries.withLock { entries in
            defer { entries = [:] }
            return Array(entries.values)
        }
        for entry in remaining { entry.client.triggerGracefulShutdown() }
    }
}
