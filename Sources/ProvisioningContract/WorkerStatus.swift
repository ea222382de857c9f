import Foundation

/// Contract section 10: what a worker says about itself every few seconds, keyed by its id, on
/// the compacted status topic. The console's fleet page is built from these alone.
public struct WorkerStatus: Codable, Sendable, Equatable {
    public static let currentSchema = "provisioning.status/v1"

    public enum State: String, Codable, Sendable {
        case running
        /// Stopping: reads nothing new, finishes what runs within its grace period.
        case stopping
        /// The last record a worker sends.
        case stopped
    }

    /// One assigned partition of the commands topic.
    public struct Partition: Codable, Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        /// The group's last accepted commit (the next offset to read); absent before the first.
        public var committed: Int64?
        /// Records behind the partition's end, from librdkafka's statistics; absent until known.
        public var lag: Int64?
        /// Commands received and not yet answered.
        public var queued: Int
        public var paused: Bool

        public init(topic: String, partition: Int32, committed: Int64?, lag: Int64?, queued: Int, paused: Bool) {
            self.topic = topic
            self.partition = partition
            self.committed = committed
            self.lag = lag
            self.queued = queued
            self.paused = paused
        }
    }

    /// One configured target, since the worker started.
    public struct Target: Codable, Sendable, Equatable {
        /// `closed`, `open` or `half-open`.
        public var breaker: String
        /// Vendor calls running now.
        public var inFlight: Int
        public var succeeded: Int
        public var failed: Int
        /// Vendor calls tried again after a transient failure.
        public var retries: Int

        public init(breaker: String, inFlight: Int, succeeded: Int, failed: Int, retries: Int) {
            self.breaker = breaker
            self.inFlight = inFlight
            self.succeeded = succeeded
            self.failed = failed
            self.retries = retries
        }
    }

    public var schema: String
    public var worker: String
    public var version: String
    public var group: String
    public var state: State
    /// RFC 3339 with milliseconds, UTC (`Timestamp`).
    public var startedAt: String
    public var at: String
    public var partitions: [Partition]
    public var inFlight: Int
    public var maxInFlight: Int
    public var targets: [String: Target]

    public init(
        worker: String, version: String, group: String, state: State, startedAt: Date, at: Date, partitions: [Partition], inFlight: Int,
        maxInFlight: Int, targets: [String: Target]
    ) {
        self.schema = Self.currentSchema
        self.worker = worker
        self.version = version
        self.group = group
        self.state = state
        self.startedAt = Timestamp.format(startedAt)
        self.at = Timestamp.format(at)
        self.partitions = partitions
        self.inFlight = inFlight
        self.maxInFlight = maxInFlight
        self.targets = targets
    }

    /// UTF-8 JSON, keys sorted (records of one worker differ only where its state did).
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    public static func decode(_ bytes: [UInt8]) throws -> WorkerStatus {
        try JSONDecoder().decode(WorkerStatus.self, from: Data(bytes))
    }
}
