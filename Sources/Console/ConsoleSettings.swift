import Foundation

/// What `provisioner console` needs: where to listen, whom to let in, which Kafka to read.
/// The console reads Kafka only and keeps bounded windows in memory (contract section 10).
public struct ConsoleSettings: Sendable {
    /// Loopback by default: put it behind your own TLS proxy to reach it from elsewhere.
    public var host = "127.0.0.1"
    /// `0` picks a free port (reported by `listening`).
    public var port = 9470
    public var credentials: ConsoleCredentials
    public var bootstrapServers: String
    /// librdkafka properties of the cluster (security settings, say), as the workers have them.
    public var kafkaProperties: [String: String] = [:]
    /// librdkafka properties for the redrive producer (the consumer-only ones left out).
    public var producerProperties: [String: String] = [:]
    public var statusTopic = "provisioning.status"
    public var deadLettersTopic = "provisioning.dlq"
    public var repliesTopic = "provisioning.replies"
    public var replaysTopic = "provisioning.dlq.replays"
    /// Where redrives re-publish.
    public var commandsTopic = "provisioning.commands"
    /// The newest replies and commands held for the live page's list and for search (the
    /// counts and charts keep an hour per second besides).
    public var replyWindow = 20_000
    public var commandWindow = 20_000
    /// The newest dead letters held for the dead-letter pages.
    public var deadLetterWindow = 10_000
    /// Redrives held for the history page (the newest record of each).
    public var redriveHistory = 1_000
    /// The workers' status interval: a worker silent for three of them is shown as gone.
    public var statusInterval: Duration = .seconds(5)
    /// The most workers kept (ids change with every restart; the oldest silent ones go first).
    public var maxWorkers = 500

    public init(credentials: ConsoleCredentials, bootstrapServers: String) {
        self.credentials = credentials
        self.bootstrapServers = bootstrapServers
    }
}
