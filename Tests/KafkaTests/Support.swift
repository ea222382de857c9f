import Foundation
import Kafka
import Logging
import Synchronization
import Testing

/// A fresh embedded cluster per test, so tests share nothing and may run in parallel, and the
/// clients a test makes on it: each runs until `stop(_:)` or the end of `with`'s body.
struct TestCluster {
    let cluster: EmbeddedKafkaCluster
    let logger: Logger
    let clients: KafkaClients

    /// Runs `body` on a fresh cluster; the clients still running when it ends are shut down and
    /// awaited before the cluster goes.
    static func with<T>(brokers: Int = 1, _ body: (TestCluster) async throws -> T) async throws -> T {
        try await withKafkaClients { clients in try await body(TestCluster(brokers: brokers, clients: clients)) }
    }

    private init(brokers: Int, clients: KafkaClients) throws {
        self.clients = clients
        var logger = Logger(label: "test")
        // librdkafka is loud when brokers go down on purpose; raise with KAFKA_TEST_LOG_LEVEL=info.
        logger.logLevel = ProcessInfo.processInfo.environment["KAFKA_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        self.logger = logger
        self.cluster = try EmbeddedKafkaCluster(brokers: brokers, logger: logger)
    }

    var bootstrapServers: String { cluster.bootstrapServers }

    /// Starts `client`'s `run()` for the rest of the test.
    func run<Client: KafkaClient & Sendable>(_ client: Client) -> Client { clients.run(client) }

    /// Shuts `client` down and returns once it has closed (left its group, flushed).
    func stop(_ client: some KafkaClient & Sendable) async { await clients.stop(client) }

    func topic(partitions: Int, replicationFactor: Int? = nil) throws -> String {
        let name = "t-\(UUID().uuidString.prefix(8))"
        try cluster.createTopic(name, partitions: partitions, replicationFactor: replicationFactor)
        return name
    }

    func consumer(
        group: String, topics: [String], protocol rebalance: KafkaConsumerConfiguration.RebalanceProtocol = .eager, properties: [String: String] = [:]
    ) throws -> KafkaConsumer {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, groupId: group, topics: topics)
        configuration.rebalanceProtocol = rebalance
        // The mock cluster holds the first join 3 s and expires members whose session is shorter
        // meanwhile; later rebalances wait a session timeout less 1 s. 4 s is the shortest that works.
        configuration.properties = ["session.timeout.ms": "4000", "heartbeat.interval.ms": "500", "max.poll.interval.ms": "10000"]
        if let debug = ProcessInfo.processInfo.environment["KAFKA_TEST_DEBUG"] { configuration.properties["debug"] = debug }
        configuration.properties.merge(properties) { _, new in new }
        return run(try KafkaConsumer(configuration: configuration, logger: logger))
    }

    func producer(transactionalId: String? = nil, properties: [String: String] = [:], logger: Logger? = nil, flushTimeout: Duration = .seconds(30)) throws
        -> KafkaProducer
    {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrapServers, transactionalId: transactionalId)
        configuration.flushTimeout = flushTimeout
        configuration.properties = ["linger.ms": "1"]
        configuration.properties.merge(properties) { _, new in new }
        return run(try KafkaProducer(configuration: configuration, logger: logger ?? self.logger))
    }

    /// A logger that drops every line: for a client whose failure the test provokes and checks.
    static let silent = Logger(label: "silent") { _ in SwiftLogNoOpLogHandler() }
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with `TimedOut` if it has not finished after `seconds`. A guard against
/// a hung test, never a way to wait for something to happen. On timeout `body` is cancelled and
/// not waited for, so a body that ignores cancellation cannot hang the suite.
func withDeadline<T: Sendable>(_ seconds: Double = 60, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = FirstResult<T>()
    let work = Task { try await body() }
    return try await withCheckedThrowingContinuation { continuation in
        outcome.set(continuation)
        Task { outcome.finish(await work.result) }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            work.cancel()
            outcome.finish(.failure(TimedOut(what: what)))
        }
    }
}

/// Resumes a continuation with whichever result comes first.
final class FirstResult<T: Sendable>: Sendable {
    private let pending = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        pending.withLock { $0 = continuation }
    }

    func finish(_ result: Result<T, any Error>) {
        let continuation = pending.withLock { pending in
            defer { pending = nil }
            return pending
        }
        continuation?.resume(with: result)
    }
}

/// Reads messages until `count` have arrived.
func read(_ count: Int, from consumer: KafkaConsumer, seconds: Double = 60) async throws -> [KafkaConsumerMessage] {
    try await withDeadline(seconds, "\(count) messages") {
        var result: [KafkaConsumerMessage] = []
        for await message in consumer.messages {
            result.append(message)
            if result.count == count { break }
        }
        return result
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
